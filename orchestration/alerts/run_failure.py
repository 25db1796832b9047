"""One Slack message per failed run, and none while Dagster will still retry it.

- Every failed run of the instance is seen, including runs started from the CLI
  (`dagster asset materialize`), which carry no code-location origin: the sensor monitors all
  code locations, since a sensor that matches only its own location never sees them.
- An alert Slack did not accept (down, 5xx or 429 beyond the client's retries) is not lost:
  Dagster's run-status cursor moves past the run anyway, so the run waits in a pending queue
  and `slack_on_pending_run_alerts` sends it on a later tick, once Slack answers.
- A run marked for a retry that never comes (a CLI run whose process died, no daemon running)
  is alerted once by `slack_on_pending_run_alerts` (`stranded_retries.py`).
- While Slack refuses the token or the channel, alerts wait in the queue without a request per
  run, and the pending sensor's ticks are skipped with the one line that says what to fix; an
  alert Slack refuses for its own content is dropped and logged, not retried.
- The failed runs of one backfill are one group for at least a day (grouping.py's ceiling): one
  message, updated with the count and the backfill's failed partitions.
- The same job failing again on the same assets within the grouping window updates the first
  message with a count.

A run-failure sensor has no cursor of its own (Dagster's run-status cursor is not the sensor's
to move), so the groups and the queue live in the instance's key-value store: the same database
as the runs, seen by every daemon and sensor process, and surviving restarts. Both are written
together after each message Slack accepted, so a tick that stops half-way sends nothing twice.
Dagster's sensor daemon evaluates sensors one at a time (`sensors: use_threads` off, the
default), so the two sensors never rewrite the queue at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from orchestration.alerts import grouping
from orchestration.alerts import settings as alert_settings
from orchestration.alerts.delivery import deliver
from orchestration.alerts.messages import RunFailure, root_error, run_failure_message
from orchestration.alerts.slack import ALERTS_OFF, AlertNotSent, SlackResource
from orchestration.alerts.stranded_retries import (
    NOT_RETRIED_TAG,
    WILL_RETRY_TAG,
    mark_not_retried,
    stranded_runs,
)

GROUPS_KEY = "orchestration.alerts/run_failure_groups"
PENDING_KEY = "orchestration.alerts/run_failure_pending"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "dagster/backfill"

_RUN_EVENTS = {
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.RUN_FAILURE,
}


@dg.run_failure_sensor(
    name="slack_on_run_failure",
    description="Posts one Slack message per failed run, CLI runs included (not while Dagster "
    "will retry it); what Slack does not accept waits for slack_on_pending_run_alerts.",
    minimum_interval_seconds=alert_settings.sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=True,
)
def slack_on_run_failure(context: dg.RunFailureSensorContext, slack: SlackResource):
    if not slack.enabled:
        context.log.info(ALERTS_OFF)
        return dg.SkipReason(ALERTS_OFF)

    instance = context.instance
    # The retry tag is added just after the failure event is written: read the run afresh.
    run = instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        # If the retry never comes, slack_on_pending_run_alerts alerts this run (stranded_retries).
        context.log.info(f"Run {run.run_id} failed and Dagster will retry it: no alert yet.")
        return None

    problem = slack.problem()
    if problem:
        # Slack refuses the token or channel: the alert waits, without asking Slack again.
        enqueue(instance, [run.run_id])
        context.log.warning(f"The alert for failed run {run.run_id} waits: {problem}")
        return None
    sending = send_run_alerts(instance, slack, [run.run_id])
    if sending.error:
        context.log.error(
            f"The Slack alert for failed run {run.run_id} was not sent ({sending.error}); "
            f"{len(sending.waiting)} alert(s) wait for slack_on_pending_run_alerts."
        )
    else:
        context.log.info(
            f"Slack: {sending.sent} run-failure alert(s) sent, the last for {run.run_id}."
        )
    _log_refused(context, sending)
    # Returning nothing lets Dagster go on to the next failed run in this tick.
    return None


@dg.sensor(
    name="slack_on_pending_run_alerts",
    description="Sends the run-failure alerts that wait: those Slack did not accept earlier, once "
    "it answers, and runs marked for a retry that never came (e.g. CLI runs whose process died).",
    minimum_interval_seconds=alert_settings.sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def slack_on_pending_run_alerts(context: dg.SensorEvaluationContext, slack: SlackResource):
    if not slack.enabled:
        return dg.SkipReason(ALERTS_OFF)
    instance = context.instance
    stranded = stranded_runs(instance)
    if stranded:
        # Queued before the runs lose their mark, so a tick that stops half-way loses none.
        enqueue(instance, [run.run_id for run in stranded])
        mark_not_retried(instance, stranded)
    problem = slack.problem()
    if problem:
        return dg.SkipReason(problem)
    if not load_pending(instance):
        return dg.SkipReason("No run-failure alert waiting.")
    sending = send_run_alerts(instance, slack, [])
    _log_refused(context, sending)
    if sending.error and sending.error.setup_problem:
        return dg.SkipReason(str(sending.error))
    if sending.error:
        # A failed tick is what an operator sees in the UI: the alerts are still waiting.
        raise AlertNotSent(
            f"{len(sending.waiting)} run-failure alert(s) still not sent, retrying next tick: "
            f"{sending.error}"
        )
    return dg.SkipReason(f"Slack: {sending.sent} delayed run-failure alert(s) sent.")


@dataclass(frozen=True)
class Sending:
    """What one pass over the queue did."""

    sent: int
    waiting: list[str]
    """Run ids still queued, oldest first."""
    error: AlertNotSent | None
    """Why sending stopped (Slack down, or refusing the token or channel); None if it did not."""
    refused: tuple[tuple[str, str], ...] = ()
    """(run id, Slack's answer) of alerts Slack refused for good: dropped, not retried."""


def send_run_alerts(
    instance: dg.DagsterInstance, slack: SlackResource, new_run_ids: Sequence[str]
) -> Sending:
    """Send the waiting alerts, oldest first, then those of `new_run_ids`; stop at the first
    Slack did not take for a reason that may pass or that blocks every alert."""
    queue = load_pending(instance)
    queue += [run_id for run_id in new_run_ids if run_id not in queue]
    config = alert_settings.load()
    groups = load_groups(instance)
    sent, refused = 0, []
    while queue:
        run = instance.get_run_by_id(queue[0])
        if run is None:  # deleted meanwhile: nothing left to say about it
            queue.pop(0)
            continue
        try:
            groups = _send(instance, slack, run, groups, config)
            sent += 1
        except AlertNotSent as error:
            if error.transient or error.setup_problem:
                _save(instance, groups, queue)
                return Sending(sent, queue, error, tuple(refused))
            # Slack refuses this message itself: sending it again would be refused again.
            refused.append((run.run_id, str(error)))
        queue.pop(0)
        _save(instance, groups, queue)  # at once: a later failure must not resend this one
    _save(instance, groups, queue)
    return Sending(sent, queue, None, tuple(refused))


def enqueue(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> None:
    """Add runs to the queue of alerts to send, without sending."""
    queue = load_pending(instance)
    queue += [run_id for run_id in run_ids if run_id not in queue]
    instance.run_storage.set_cursor_values({PENDING_KEY: json.dumps(queue)})


def _log_refused(context, sending: Sending) -> None:
    for run_id, error in sending.refused:
        context.log.error(f"Slack refused the alert for failed run {run_id}, not retried: {error}")


def _send(instance, slack, run: dg.DagsterRun, groups, config) -> dict[str, grouping.Thread]:
    failure, failed_assets = describe_run_failure(instance, run)
    failed_at = _failed_at(instance, run.run_id)
    state = grouping.prune(groups, failed_at, config.grouping_window)
    backfill_id = run.tags.get(BACKFILL_TAG)
    new_state, _action = deliver(
        slack,
        state,
        grouping.backfill_group(backfill_id)
        if backfill_id
        else run_group_key(run.job_name, failed_assets or failure.failed_steps),
        first_at=failed_at,
        last_at=failed_at,
        failures=1,
        window=config.grouping_window,
        render=lambda repeat: run_failure_message(failure, config.webserver_url, repeat),
    )
    return new_state


def describe_run_failure(
    instance: dg.DagsterInstance, run: dg.DagsterRun
) -> tuple[RunFailure, tuple[str, ...]]:
    """What the message says, from the run's own event log; plus the assets left unmaterialized."""
    records = instance.get_records_for_run(run.run_id, of_type=_RUN_EVENTS).records
    events = [record.event_log_entry.dagster_event for record in records]
    step_failures = [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    run_failures = [e for e in events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
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
        failure_event = run_failures[-1] if run_failures else None
        run_error = getattr(failure_event and failure_event.event_specific_data, "error", None)
        error = root_error(run_error) or ((failure_event and failure_event.message) or "")
    start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    failure = RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        assets=tuple(key.to_user_string() for key in asset_keys),
        partition=run.tags.get(PARTITION_TAG),
        partition_range=(start, end) if start and end else None,
        failed_steps=tuple(dict.fromkeys(e.step_key for e in step_failures if e.step_key)),
        error=error,
        not_retried=run.tags.get(NOT_RETRIED_TAG),
        backfill_id=run.tags.get(BACKFILL_TAG),
        backfill_failed=backfill_failed_partitions(instance, run.tags[BACKFILL_TAG])
        if BACKFILL_TAG in run.tags
        else (),
    )
    failed_assets = tuple(key.to_user_string() for key in asset_keys if key not in materialized)
    return failure, failed_assets


def backfill_failed_partitions(instance: dg.DagsterInstance, backfill_id: str) -> tuple[str, ...]:
    """The partitions of the backfill's failed runs so far (a range run counts its first day)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            tags={BACKFILL_TAG: backfill_id}, statuses=[dg.DagsterRunStatus.FAILURE]
        )
    )
    partitions = {run.tags.get(PARTITION_TAG) or run.tags.get(RANGE_START_TAG) for run in runs}
    return tuple(sorted(p for p in partitions if p))


def run_group_key(job_name: str, failed: tuple[str, ...]) -> str:
    """Runs of one job that fail on the same assets (or steps) are one group."""
    digest = hashlib.sha1("\n".join(sorted(failed)).encode()).hexdigest()[:12]
    return f"run:{job_name}:{digest}"


def load_groups(instance: dg.DagsterInstance) -> dict[str, grouping.Thread]:
    return grouping.loads(instance.run_storage.get_cursor_values({GROUPS_KEY}).get(GROUPS_KEY))


def save_groups(instance: dg.DagsterInstance, state: grouping.State) -> None:
    instance.run_storage.set_cursor_values({GROUPS_KEY: grouping.dumps(state)})


def load_pending(instance: dg.DagsterInstance) -> list[str]:
    """Ids of failed runs whose alert Slack has not accepted yet, oldest first."""
    raw = instance.run_storage.get_cursor_values({PENDING_KEY}).get(PENDING_KEY)
    try:
        data = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [run_id for run_id in data if isinstance(run_id, str)] if isinstance(data, list) else []


def _save(instance: dg.DagsterInstance, state: grouping.State, pending: list[str]) -> None:
    # One write for both: the message sent and the queue without it are recorded together.
    instance.run_storage.set_cursor_values(
        {GROUPS_KEY: grouping.dumps(state), PENDING_KEY: json.dumps(pending)}
    )


def _failed_at(instance: dg.DagsterInstance, run_id: str) -> dt.datetime:
    record = instance.get_run_record_by_id(run_id)
    end_time = record.end_time if record else None
    return dt.datetime.fromtimestamp(end_time, dt.UTC) if end_time else dt.datetime.now(dt.UTC)
