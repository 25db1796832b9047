"""One Slack message per failed run, and none while Dagster will still retry it.

The same job failing again on the same assets within the grouping window updates the first
message with a count. A run-failure sensor has no cursor of its own to keep that state in (its
cursor belongs to Dagster and `RunStatusSensorContext` has no `update_cursor`), so the groups
live in the instance's key-value store: the same database as the runs, seen by every daemon and
sensor process, and surviving restarts.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import dagster as dg

from orchestration.alerts import grouping
from orchestration.alerts import settings as alert_settings
from orchestration.alerts.delivery import deliver
from orchestration.alerts.messages import RunFailure, root_error, run_failure_message
from orchestration.alerts.slack import ALERTS_OFF, AlertNotSent, SlackResource

GROUPS_KEY = "orchestration.alerts/run_failure_groups"
WILL_RETRY_TAG = "dagster/will_retry"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

_RUN_EVENTS = {
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
}


@dg.run_failure_sensor(
    name="slack_on_run_failure",
    description="Posts one Slack message per failed run (not while Dagster will retry it).",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def slack_on_run_failure(context: dg.RunFailureSensorContext, slack: SlackResource):
    if not slack.enabled:
        context.log.info(ALERTS_OFF)
        return dg.SkipReason(ALERTS_OFF)

    instance = context.instance
    # The retry tag is added just after the failure event is written: read the run afresh.
    run = instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        context.log.info(f"Run {run.run_id} failed and Dagster will retry it: no alert yet.")
        return None

    failure, failed_assets = describe_run_failure(instance, run, context.failure_event)
    config = alert_settings.load()
    failed_at = _failed_at(instance, run.run_id)
    state = grouping.prune(load_groups(instance), failed_at, config.grouping_window)
    try:
        new_state, action = deliver(
            slack,
            state,
            run_group_key(run.job_name, failed_assets or failure.failed_steps),
            first_at=failed_at,
            last_at=failed_at,
            failures=1,
            window=config.grouping_window,
            render=lambda repeat: run_failure_message(failure, config.webserver_url, repeat),
        )
    except AlertNotSent as error:
        raise AlertNotSent(
            f"The Slack alert for failed run {run.run_id} was not sent: {error}", error.code
        ) from error
    save_groups(instance, new_state)
    context.log.info(f"Slack alert {action} for failed run {run.run_id}.")
    # Returning nothing lets Dagster go on to the next failed run in this tick.
    return None


def describe_run_failure(
    instance: dg.DagsterInstance, run: dg.DagsterRun, failure_event: dg.DagsterEvent
) -> tuple[RunFailure, tuple[str, ...]]:
    """What the message says, from the run's own event log; plus the assets left unmaterialized."""
    records = instance.get_records_for_run(run.run_id, of_type=_RUN_EVENTS).records
    events = [record.event_log_entry.dagster_event for record in records]
    step_failures = [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    planned = [
        e.asset_key
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ]
    materialized = {
        e.asset_key for e in events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    asset_keys = sorted(run.asset_selection or set(planned), key=lambda key: key.path)
    if step_failures:
        error = root_error(step_failures[0].step_failure_data.error)
    else:
        # The run failed outside any step (e.g. it could not start): its own error is all there is.
        run_error = getattr(failure_event.event_specific_data, "error", None)
        error = root_error(run_error) or (failure_event.message or "")
    start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    failure = RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        assets=tuple(key.to_user_string() for key in asset_keys),
        partition=run.tags.get(PARTITION_TAG),
        partition_range=(start, end) if start and end else None,
        failed_steps=tuple(dict.fromkeys(e.step_key for e in step_failures if e.step_key)),
        error=error,
    )
    failed_assets = tuple(key.to_user_string() for key in asset_keys if key not in materialized)
    return failure, failed_assets


def run_group_key(job_name: str, failed: tuple[str, ...]) -> str:
    """Runs of one job that fail on the same assets (or steps) are one group."""
    digest = hashlib.sha1("\n".join(sorted(failed)).encode()).hexdigest()[:12]
    return f"run:{job_name}:{digest}"


def load_groups(instance: dg.DagsterInstance) -> dict[str, grouping.Thread]:
    return grouping.loads(instance.run_storage.get_cursor_values({GROUPS_KEY}).get(GROUPS_KEY))


def save_groups(instance: dg.DagsterInstance, state: grouping.State) -> None:
    instance.run_storage.set_cursor_values({GROUPS_KEY: grouping.dumps(state)})


def _failed_at(instance: dg.DagsterInstance, run_id: str) -> dt.datetime:
    record = instance.get_run_record_by_id(run_id)
    end_time = record.end_time if record else None
    return dt.datetime.fromtimestamp(end_time, dt.UTC) if end_time else dt.datetime.now(dt.UTC)
