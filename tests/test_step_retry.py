"""The steps' retry waits: doubling from the base, each within its jitter, never below zero."""

import random

import pytest

from core.step_retry import StepRetry


def test_each_wait_doubles_and_stays_within_its_jitter():
    policy = StepRetry(max_retries=3, base_delay_s=30, jitter=0.2)
    rng = random.Random(7)
    for attempt, nominal in ((1, 30), (2, 60), (3, 120)):
        waits = [policy.delay_s(attempt, rng) for _ in range(2000)]
        assert nominal * 0.8 <= min(waits) < nominal * 0.85
        assert nominal * 1.15 < max(waits) <= nominal * 1.2


def test_without_jitter_the_waits_are_exact():
    policy = StepRetry(max_retries=3, base_delay_s=1, jitter=0)
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [1, 2, 4]


def test_attempts_count_from_one():
    with pytest.raises(ValueError, match="the first retry is attempt 1"):
        StepRetry(max_retries=1, base_delay_s=1).delay_s(0)
