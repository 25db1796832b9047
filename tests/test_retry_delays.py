"""An ingestion step's retries wait ~1x, ~2x, ~4x STEP_RETRY_DELAY_S, each within ±20 %, as the
README says; an interrupt ends the step instead of being retried."""

import dataclasses
import os
import signal
import threading
import time

import dagster as dg
import pytest

from commands.run_summary import render, summarize
from core.policies import JITTER_FRACTION
from core.step_retry import retry_delay
from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.definitions import defs

RAW_ORDERS = dg.AssetKey(["raw", "orders"])
DAY = "2024-05-01"


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 24.0, 36.0), (2, 48.0, 72.0), (3, 96.0, 144.0)]
)
def test_each_retry_waits_its_doubled_delay_within_a_fifth(attempt, low, high):
    assert retry_delay(30, attempt, 0.2, lambda: 0.0) == pytest.approx(low)
    assert retry_delay(30, attempt, 0.2, lambda: 0.5) == pytest.approx((low + high) / 2)
    # random() stays below 1, so the upper end is approached, never reached.
    assert retry_delay(30, attempt, 0.2, lambda: 1 - 1e-12) == pytest.approx(high)


def test_without_jitter_the_delays_are_exactly_30_60_120_seconds():
    assert [retry_delay(30, n, 0, lambda: 0.9) for n in (1, 2, 3)] == [30, 60, 120]


@pytest.mark.parametrize(("attempt", "fraction"), [(0, 0.2), (1, -0.1), (1, 1.0)])
def test_a_retry_delay_refuses_an_attempt_or_fraction_that_makes_no_sense(attempt, fraction):
    with pytest.raises(ValueError, match="attempt|fraction"):
        retry_delay(30, attempt, fraction, lambda: 0.5)


def _ingest(instance, day: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[RAW_ORDERS], partition_key=day, raise_on_error=False
    )


def test_an_outage_retries_the_ingestion_step_after_1_2_4_seconds_within_a_fifth(
    warehouse, monkeypatch
):
    base = float(os.environ["STEP_RETRY_DELAY_S"])
    down = dataclasses.replace(ApiSettings.from_env({}), outage=True)
    with running_api(down) as down_url, dg.instance_for_test() as instance:
        monkeypatch.setenv("JAFFLE_API_URL", down_url)
        result = _ingest(instance, DAY)
        records = instance.get_records_for_run(result.run_id).records
        summary = summarize(instance, result.run_id)

    assert not result.success
    events = [r.event_log_entry for r in records if r.event_log_entry.is_dagster_event]
    waits = [
        e.dagster_event.event_specific_data.seconds_to_wait
        for e in events
        if e.dagster_event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        nominal = base * 2 ** (attempt - 1)
        assert nominal * (1 - JITTER_FRACTION) <= wait <= nominal * (1 + JITTER_FRACTION)
    # And Dagster waited that long before each restart.
    retried = [e.timestamp for e in events if e.dagster_event_type.value == "STEP_UP_FOR_RETRY"]
    restarted = [e.timestamp for e in events if e.dagster_event_type.value == "STEP_RESTARTED"]
    assert len(restarted) == 3
    for asked, at, wait in zip(retried, restarted, waits, strict=True):
        assert at - asked >= wait - 0.05
    [failure] = [e for e in events if e.dagster_event_type.value == "STEP_FAILURE"]
    assert "Exceeded max_retries of 3" in failure.dagster_event.event_specific_data.error.message
    # What `make backfill`'s summary says of such a run: the asset not built, its checks not run.
    lines = render(summary)
    assert lines[1] == f"  run           {result.run_id} FAILURE"
    assert lines[2] == "  assets        0 materialized, 1 not built: raw/orders"
    checks = len(defs.resolve_asset_graph().get_check_keys_for_assets({RAW_ORDERS}))
    assert lines[3] == f"  checks        0 passed, 0 failed, {checks} not run"


def test_an_interrupted_ingestion_step_is_not_retried(warehouse, monkeypatch):
    """Ctrl-C while the step waits on the API: the step ends interrupted, with no retry."""
    slow = dataclasses.replace(ApiSettings.from_env({}), latency_ms=4000)
    with running_api(slow) as slow_url, dg.instance_for_test() as instance:
        monkeypatch.setenv("JAFFLE_API_URL", slow_url)
        started = threading.Event()

        def interrupt_once_started():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not started.is_set():
                for run in instance.get_runs(limit=1):
                    if instance.get_records_for_run(
                        run.run_id, of_type=dg.DagsterEventType.STEP_START
                    ).records:
                        started.set()
                time.sleep(0.1)
            time.sleep(1)  # inside the first, slow request
            os.kill(os.getpid(), signal.SIGINT)

        interrupter = threading.Thread(target=interrupt_once_started, daemon=True)
        interrupter.start()
        result = _ingest(instance, DAY)
        interrupter.join()
        kinds = [
            r.event_log_entry.dagster_event_type.value
            for r in instance.get_records_for_run(result.run_id).records
            if r.event_log_entry.is_dagster_event
        ]

    assert started.is_set() and not result.success
    assert "STEP_UP_FOR_RETRY" not in kinds
    assert "STEP_FAILURE" in kinds
