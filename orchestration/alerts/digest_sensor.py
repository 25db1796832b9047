"""Posts the morning digest (digest.py) to Slack once a day, from DIGEST_HOUR_UTC on.

The cursor is the day (UTC) of the last digest sent, so a day has at most one; the first tick
ever only records today when the hour has passed already (a platform started in the afternoon
sends its first digest the next morning, not at once). A digest Slack did not accept fails the
tick and is tried again on the next one; while Slack refuses the token, ticks are skipped with
what to fix. When it was sent is also kept in the instance, for `make digest` and the next
digest's "runs failed since".
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from orchestration.alerts import settings as alert_settings
from orchestration.alerts.digest import LAST_SENT_KEY, gather, last_sent, render
from orchestration.alerts.slack import ALERTS_OFF, SlackResource


@dg.sensor(
    name="slack_morning_digest",
    description="Posts one morning digest a day to Slack: yesterday's partitions, failing "
    "checks, dead letters, failed runs and freshness, or 'all good' in one line.",
    minimum_interval_seconds=alert_settings.sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def slack_morning_digest(context: dg.SensorEvaluationContext, slack: SlackResource):
    if not slack.enabled:
        return dg.SkipReason(ALERTS_OFF)
    now = dt.datetime.now(dt.UTC)
    hour = alert_settings.digest_hour_utc()
    today = now.date().isoformat()
    if context.cursor is None:
        context.update_cursor(today if now.hour >= hour else "")
        return dg.SkipReason(f"The first digest is sent at the next {hour:02d}:00 UTC.")
    if now.hour < hour or context.cursor == today:
        return dg.SkipReason(f"Today's digest is sent at {hour:02d}:00 UTC, once.")
    problem = slack.problem()
    if problem:
        return dg.SkipReason(problem)
    instance = context.instance
    digest = gather(instance, context.repository_def.asset_graph, now, last_sent(instance))
    slack.post(render(digest, alert_settings.load().webserver_url))  # raises: next tick retries
    instance.run_storage.set_cursor_values({LAST_SENT_KEY: now.isoformat()})
    context.update_cursor(today)
    return dg.SkipReason(f"Slack: morning digest for {digest.day} posted.")
