"""Slack alerts for failed asset checks and stale assets.

A failed non-blocking check does not fail its run (dagster#29896), so the run-failure sensor
never sees it: this sensor reads check results and freshness changes from the instance.

- A failed check with severity ERROR alerts; a freshness check (any check whose name contains
  "freshness", e.g. from `dg.build_time_partition_freshness_checks`, WARN by default) alerts
  whatever its severity, once per stretch of lateness (until it passes again), and only for an
  asset in service: the failures of never-built assets are held and named in one message for
  the whole platform, once (`never_built.py`).
- An asset whose `dg.FreshnessPolicy` state changes to FAIL alerts (the FRESHNESS_STATE_CHANGE
  events the freshness daemon records).

What is new since the last tick is read from the instance by `check_events.py`. The cursor
(`check_cursor.py`) keeps, per check, the execution id up to which everything is handled, the
storage id of the last freshness change read, the freshness changes not yet sent, and the
grouping state. An alert Slack did not accept stays unhandled in the cursor and is sent on a
later tick, once; if nothing got through the tick fails and the cursor does not move. While Slack
refuses the token or the channel, ticks are skipped with the line that says what to fix.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from orchestration.alerts import grouping, never_built
from orchestration.alerts import settings as alert_settings
from orchestration.alerts.check_cursor import Cursor
from orchestration.alerts.check_events import (
    PLANNED,
    Alert,
    new_check_failures,
    new_freshness_failures,
    run_in_progress,
)
from orchestration.alerts.delivery import deliver
from orchestration.alerts.slack import ALERTS_OFF, AlertNotSent, SlackResource


@dg.sensor(
    name="slack_on_check_failure",
    description="Posts to Slack when an asset check fails (ERROR, or any freshness check) or an "
    "asset's freshness policy fails.",
    minimum_interval_seconds=alert_settings.sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def slack_on_check_failure(context: dg.SensorEvaluationContext, slack: SlackResource):
    if not slack.enabled:
        context.log.info(ALERTS_OFF)
        return dg.SkipReason(ALERTS_OFF)

    instance = context.instance
    asset_graph = context.repository_def.asset_graph if context.repository_def else None
    check_keys = sorted(asset_graph.asset_check_keys, key=str) if asset_graph else []
    cursor = Cursor.loads(context.cursor)
    if cursor is None:
        cursor = _starting_cursor(instance, check_keys)
        context.update_cursor(cursor.dumps())
        return dg.SkipReason(
            f"Watching {len(check_keys)} checks and freshness from now on (earlier failures "
            "are not alerted)."
        )

    problem = slack.problem()
    if problem:
        # Slack refuses the token or channel: the failures wait unread (the cursor stays).
        return dg.SkipReason(problem)

    config = alert_settings.load()
    reading = new_check_failures(
        instance,
        asset_graph,
        check_keys,
        cursor,
        config,
        never_built.in_service_rule(instance, context.repository_def),
    )
    checks, check_alerts = reading.checks, reading.alerts
    freshness_after, freshness_alerts = new_freshness_failures(
        instance, asset_graph, cursor, config
    )

    state = grouping.prune(cursor.groups, dt.datetime.now(dt.UTC), config.grouping_window)
    by_group: dict[str, list[Alert]] = {}
    for alert in sorted([*check_alerts, *freshness_alerts], key=lambda a: a.at):
        by_group.setdefault(alert.group, []).append(alert)

    actions: dict[str, int] = {"posted": 0, "updated": 0}
    errors: list[str] = []
    setup_problem: str | None = None
    refused = 0
    unsent: set[str] = set()
    for group, alerts in by_group.items():
        if errors:
            # Slack already failed this tick after its retries: don't spend them on every group.
            unsent.add(group)
        else:
            try:
                state, action = deliver(
                    slack,
                    state,
                    group,
                    first_at=alerts[0].at,
                    last_at=alerts[-1].at,
                    failures=len(alerts),
                    window=config.grouping_window,
                    render=alerts[-1].render,
                )
                actions[action] += 1
            except AlertNotSent as error:
                if not error.transient and not error.setup_problem:
                    # Slack refuses this message itself: it would refuse it again. Handled.
                    context.log.error(f"Slack refused the alert {group}, not retried: {error}")
                    refused += 1
                    continue
                errors.append(f"{group}: {error}")
                unsent.add(group)
                if error.setup_problem:
                    setup_problem = str(error)
        if group in unsent:
            # Not sent, so not handled: the next tick reads this check again from just before
            # these results (every result of one check is in one group, so nothing sent is
            # read again); unsent freshness changes are kept by id (below).
            for alert in alerts:
                if alert.check is not None:
                    checks[alert.check] = min(checks[alert.check], alert.execution_id - 1)
                    reading.stale.discard(alert.check)
    freshness_pending = tuple(
        sorted(
            alert.storage_id
            for group, alerts in by_group.items()
            if group in unsent
            for alert in alerts
            if alert.check is None
        )
    )

    unsent_groups = len(by_group) - sum(actions.values()) - refused
    # The assets held back as never built: named once, in one message for the whole platform.
    not_built = {**cursor.not_built, **reading.not_built}
    not_built_sent = cursor.not_built_sent
    if not_built and not not_built_sent and not errors:
        try:
            slack.post(never_built.not_built_message(not_built, min(not_built.values())))
            not_built_sent, actions["posted"] = True, actions["posted"] + 1
        except AlertNotSent as error:
            errors.append(f"not built yet: {error}")
            unsent_groups += 1
            setup_problem = setup_problem or (str(error) if error.setup_problem else None)
    new_cursor = Cursor(
        checks,
        freshness_after,
        freshness_pending,
        state,
        stale=frozenset(reading.stale),
        in_service=frozenset(reading.in_service),
        not_built={} if not_built_sent else not_built,
        not_built_sent=not_built_sent,
    )

    if setup_problem:
        # No use failing the tick every interval: nothing gets through until a person acts.
        context.update_cursor(new_cursor.dumps())
        return dg.SkipReason(setup_problem)
    if errors and not any(actions.values()):
        # Nothing got through (Slack down?): fail the tick loudly; the cursor stays where it was.
        raise AlertNotSent(
            f"{unsent_groups} Slack alert(s) not sent, retrying next tick: {errors[0]}"
        )
    context.update_cursor(new_cursor.dumps())
    summary = f"Slack: {actions['posted']} posted, {actions['updated']} updated"
    if errors:
        context.log.error(
            f"{unsent_groups} Slack alert(s) not sent, retrying next tick: {errors[0]}"
        )
        summary += f", {unsent_groups} not sent (retrying next tick)"
    return dg.SkipReason(summary + ".")


def _starting_cursor(instance: dg.DagsterInstance, check_keys) -> Cursor:
    """Start from now: everything already recorded counts as handled, except results still due."""
    in_progress = run_in_progress(instance)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))
    checks = {
        key.to_user_string(): record.id - 1
        if record.status == PLANNED and in_progress(record.run_id)
        else record.id
        for key, record in latest.items()
    }
    last_change = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.FRESHNESS_STATE_CHANGE),
        limit=1,
        ascending=False,
    )
    return Cursor(checks, last_change[0].storage_id if last_change else 0)
