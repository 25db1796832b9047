"""The `duckdb` pool of the shipped instance config keeps two runs' writers apart: observed in
the event log of two real CLI runs started at once on one persistent instance, not read off a
setting."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")
DAYS = ("2024-03-01", "2024-03-02")


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple]:
    """(start, end) timestamps of each step of the run, from its event log."""
    spans: dict[str, list] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            spans.setdefault(event.step_key, [None, None])[0] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            spans.setdefault(event.step_key, [None, None])[1] = record.timestamp
    return {step: tuple(span) for step, span in spans.items()}


def test_two_runs_at_once_never_write_the_warehouse_at_the_same_time(
    api_url, warehouse, dagster_home
):
    with dg.DagsterInstance.get():  # create its storage first: two first uses would race
        pass
    # Two backfills of the raw orders started together, as two users would from a shell, on
    # the instance the project ships (dagster.yaml copied into DAGSTER_HOME by the fixture).
    processes = [
        subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions"]
            + ["--select", "raw/orders", "--partition", day],
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for day in DAYS
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]

    pooled = {"raw_orders"} | {c.node_def.name for c in defs.asset_checks if c.op.pool == "duckdb"}
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        spans = [
            [span for step, span in _step_spans(instance, run.run_id).items() if step in pooled]
            for run in runs
        ]
        slots = instance.event_log_storage.get_concurrency_info("duckdb")

    assert len(runs) == 2
    first, second = spans
    # Each run had its load and its two check steps on raw orders (the partition's checks, the
    # schema's) in the pool ...
    assert len(first) == len(second) == 3
    assert all(None not in span for span in first + second)
    # ... and no pooled step of one run overlapped in time with one of the other.
    overlaps = [(a, b) for a in first for b in second if a[0] < b[1] and b[0] < a[1]]
    assert overlaps == []
    assert [p.returncode for p in processes] == [0, 0], [o[-2000:] for o in outputs]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    assert slots.slot_count == 1
