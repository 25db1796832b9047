"""Step retries for failures only: a stop signal is never retried.

A Dagster `RetryPolicy` on an op also retries interrupts (core/interrupts.py), which turned a
Ctrl-C or SIGTERM into a rebuild and a green run. So the platform's steps carry no retry
policy; they call `retry_failure()` on an ordinary exception, which raises Dagster's
`RetryRequested` with the policy's wait. Dagster escalates a `RetryRequested` as it is, counts
the attempts, and fails the step once `max_retries` is spent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import dagster as dg


def retry_delay(base_s: float, attempt: int, fraction: float, random: Callable[[], float]) -> float:
    """Seconds before retry `attempt` (1 for the first): `base_s` doubled per earlier retry,
    scaled by a factor drawn evenly from [1 - fraction, 1 + fraction) with `random()` in [0, 1)."""
    if attempt < 1:
        raise ValueError(f"retry attempt {attempt}: the first retry is attempt 1")
    if not 0 <= fraction < 1:
        raise ValueError(f"jitter fraction {fraction}: must be at least 0 and below 1")
    nominal = base_s * 2 ** (attempt - 1)
    return nominal * (1 + fraction * (2 * random() - 1))


@dataclass(frozen=True)
class StepRetry:
    """`max_retries` more attempts, the n-th after about `base_delay_s * 2**(n-1)` seconds,
    each wait spread by up to ± `jitter` of itself so parallel runs do not retry in step."""

    max_retries: int
    base_delay_s: float
    jitter: float = 0.2

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry number `attempt` (1 for the first retry)."""
        return retry_delay(self.base_delay_s, attempt, self.jitter, (rng or random).random)


def raise_for_retry(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    error: Exception,
    policy: StepRetry,
) -> NoReturn:
    """Raise what the step should raise for `error`: a `RetryRequested` per `policy`, or
    `error` itself when it must not be retried (`dg.Failure(allow_retries=False)`) or is
    already a retry request. Call it for `Exception`s only: interrupts are not failures."""
    if isinstance(error, dg.RetryRequested):
        raise error
    if isinstance(error, dg.Failure) and not error.allow_retries:
        raise error
    raise dg.RetryRequested(
        max_retries=policy.max_retries,
        seconds_to_wait=policy.delay_s(context.retry_number + 1),
    ) from error
