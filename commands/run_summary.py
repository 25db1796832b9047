"""The few lines `make backfill` ends with: what its run built, checked and loaded, and where to
look next, read back from the Dagster instance after the run rather than from its log.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from dataclasses import dataclass

import dagster as dg

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
WIDTH = 100
LABEL = 16  # the width of the labels' column

_EVENTS = dg.DagsterEventType


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    first_day: str | None
    last_day: str | None
    materialized: tuple[str, ...]
    not_materialized: tuple[str, ...]
    checks_passed: int
    checks_failed: tuple[str, ...]
    checks_not_run: int
    rows_loaded: dict[str, int]
    """Per asset, the `rows_loaded` dlt reported (run-wide, so counted once per asset)."""
    dead_letters: int
    run_seconds: float | None


def summarize(instance: dg.DagsterInstance, run_id: str) -> RunSummary:
    """The summary of run `run_id`, from its record and its events in `instance`."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise ValueError(f"no run {run_id} in the instance at DAGSTER_HOME")
    planned = {_key(r) for r in _records(instance, run_id, _EVENTS.ASSET_MATERIALIZATION_PLANNED)}
    rows: dict[str, int] = {}
    rejected: dict[str, int] = {}
    materialized: set[str] = set()
    for record in _records(instance, run_id, _EVENTS.ASSET_MATERIALIZATION):
        materialization = record.event_log_entry.asset_materialization
        key = materialization.asset_key.to_user_string()
        materialized.add(key)
        metadata = materialization.metadata
        # A range run repeats run-wide figures on each partition's materialization: once each.
        if "rows_loaded" in metadata:
            rows[key] = max(rows.get(key, 0), int(metadata["rows_loaded"].value))
        if "rejected_records" in metadata:
            rejected[key] = max(rejected.get(key, 0), int(metadata["rejected_records"].value))
    checks_planned = len(_records(instance, run_id, _EVENTS.ASSET_CHECK_EVALUATION_PLANNED))
    evaluations = [
        r.event_log_entry.dagster_event.event_specific_data
        for r in _records(instance, run_id, _EVENTS.ASSET_CHECK_EVALUATION)
    ]
    failed = sorted(
        f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed
    )
    stats = instance.get_run_stats(run_id)
    return RunSummary(
        run_id=run_id,
        status=run.status.value,
        first_day=run.tags.get(RANGE_START_TAG) or run.tags.get("dagster/partition"),
        last_day=run.tags.get(RANGE_END_TAG) or run.tags.get("dagster/partition"),
        materialized=tuple(sorted(materialized)),
        not_materialized=tuple(sorted(planned - materialized)),
        checks_passed=len(evaluations) - len(failed),
        checks_failed=tuple(failed),
        checks_not_run=max(checks_planned - len(evaluations), 0),
        rows_loaded=dict(sorted(rows.items())),
        dead_letters=sum(rejected.values()),
        run_seconds=(
            stats.end_time - stats.start_time if stats.start_time and stats.end_time else None
        ),
    )


def latest_range_run(
    instance: dg.DagsterInstance, first_day: str, last_day: str, since: dt.datetime
) -> str | None:
    """The id of the newest run of `first_day`..`last_day` created since `since`, if any."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            tags={RANGE_START_TAG: first_day, RANGE_END_TAG: last_day}, created_after=since
        ),
        limit=1,
    )
    return runs[0].run_id if runs else None


def render(summary: RunSummary, elapsed_s: float | None = None) -> list[str]:
    """The summary as lines of at most `WIDTH` columns, names wrapped under their label."""
    days = (
        f"{summary.first_day} .. {summary.last_day}"
        if summary.first_day and summary.first_day != summary.last_day
        else summary.first_day or "unpartitioned"
    )
    missing = summary.not_materialized
    assets = f"{len(summary.materialized)} materialized, {len(missing)} not built"
    if missing:
        assets += ": " + ", ".join(missing)
    checks = f"{summary.checks_passed} passed, {len(summary.checks_failed)} failed"
    if summary.checks_not_run:
        checks += f", {summary.checks_not_run} not run"
    if summary.checks_failed:
        checks += ": " + ", ".join(summary.checks_failed)
    loaded = ", ".join(f"{key} {rows:,}" for key, rows in summary.rows_loaded.items())
    times = [f"run {_seconds(summary.run_seconds)}"] if summary.run_seconds is not None else []
    if elapsed_s is not None:
        times.append(f"command {_seconds(elapsed_s)}")
    # Imported here: the alerts package builds its sensors (reading their settings) on import,
    # and a bad alert setting must reach `make backfill`'s pre-flight, not stop this import.
    from orchestration.alerts.settings import DEFAULT_WEBSERVER_URL

    webserver = (os.environ.get("DAGSTER_WEBSERVER_URL") or DEFAULT_WEBSERVER_URL).rstrip("/")
    fields = [
        ("range", days),
        ("run", f"{summary.run_id} {summary.status}"),
        ("assets", assets),
        ("checks", checks),
        ("rows loaded", loaded or "none"),
        ("dead letters", f"{summary.dead_letters:,}"),
        ("elapsed", ", ".join(times) or "unknown"),
        ("in the UI", f"{webserver}/runs/{summary.run_id}"),
    ]
    lines = []
    for label, text in fields:
        lines += textwrap.wrap(
            text,
            WIDTH,
            initial_indent=f"  {label:<{LABEL - 2}}",
            subsequent_indent=" " * LABEL,
            break_on_hyphens=False,
            break_long_words=False,
        )
    return lines


def _records(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    return list(instance.get_records_for_run(run_id, of_type=kind, limit=100_000).records)


def _key(record) -> str:
    return record.event_log_entry.dagster_event.asset_key.to_user_string()


def _seconds(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
