"""Failed runs marked for a retry (`dagster/will_retry=true`) that no retry will ever follow.

The run-failure sensor stays silent on such a run and leaves the alert to its retry. But Dagster's
retry daemon retries only runs launched through a code location: a run started from the CLI
(`dagster asset materialize`, `make backfill`) whose process died, marked failed later by
orchestration/recovery.py, keeps the mark and is never retried; nor is any run while no daemon
runs. Without this, such a failure would never be reported.

A run is stranded when no run names it as its parent (Dagster's retry does) and either it has no
code-location origin (Dagster cannot retry it) or it failed more than RETRY_GRACE ago (the daemon
retries within seconds when it runs). A stranded run gets `dagster/will_retry=false`, the truth
from then on and what Dagster's own daemon writes when a retry fails to launch, so it is found,
and alerted, once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

WILL_RETRY_TAG = "dagster/will_retry"
PARENT_RUN_ID_TAG = "dagster/parent_run_id"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"
NOT_RETRIED_TAG = "trifecta/not_retried"
"""Why a run marked for a retry was not retried; the alert quotes it."""

RETRY_GRACE = dt.timedelta(minutes=5)
SCAN_LIMIT = 100
"""Runs looked at per tick, oldest first; those alerted drop out, so the next tick goes on."""

NO_ORIGIN = "started outside a code location (e.g. from the CLI), so Dagster cannot retry it"
NO_RETRY_YET = "no retry started within {minutes} minutes (is the Dagster daemon running?)"


@dataclass(frozen=True)
class StrandedRun:
    run_id: str
    reason: str


def stranded_runs(
    instance: dg.DagsterInstance, now: dt.datetime | None = None
) -> list[StrandedRun]:
    """Failed runs marked `will_retry=true` that no retry followed and none will, oldest first."""
    now = now or dt.datetime.now(dt.UTC)
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE], tags={WILL_RETRY_TAG: "true"}
        ),
        limit=SCAN_LIMIT,
        ascending=True,
    )
    stranded = []
    for record in records:
        run = record.dagster_run
        if run.tags.get(AUTO_RETRY_RUN_ID_TAG) or _has_retry(instance, run.run_id):
            continue  # the retry alerts if it fails too
        if run.remote_job_origin is None:
            stranded.append(StrandedRun(run.run_id, NO_ORIGIN))
        elif record.end_time and now.timestamp() - record.end_time > RETRY_GRACE.total_seconds():
            minutes = int(RETRY_GRACE.total_seconds() // 60)
            stranded.append(StrandedRun(run.run_id, NO_RETRY_YET.format(minutes=minutes)))
    return stranded


def mark_not_retried(instance: dg.DagsterInstance, stranded: list[StrandedRun]) -> None:
    """Record on each run that it will not be retried, and why (shown in the UI's run log)."""
    for run in stranded:
        instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: "false", NOT_RETRIED_TAG: run.reason})
        dagster_run = instance.get_run_by_id(run.run_id)
        if dagster_run is not None:
            instance.report_engine_event(
                f"Marked for a retry that will not happen ({run.reason}): alerting it as failed.",
                dagster_run,
            )


def _has_retry(instance: dg.DagsterInstance, run_id: str) -> bool:
    children = instance.get_run_records(
        filters=dg.RunsFilter(tags={PARENT_RUN_ID_TAG: run_id}), limit=1
    )
    return bool(children)
