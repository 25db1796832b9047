"""Slack alerts people won't mute: one message per failed run, failed check or stale asset,
repeats within a window update that message instead of posting again, and one morning digest."""

from orchestration.alerts.check_failure import slack_on_check_failure
from orchestration.alerts.digest_sensor import slack_morning_digest
from orchestration.alerts.run_failure import slack_on_pending_run_alerts, slack_on_run_failure
from orchestration.alerts.slack import SlackResource, slack_resource
from orchestration.alerts.startup import startup_check

alert_sensors = [
    slack_on_run_failure,
    slack_on_pending_run_alerts,
    slack_on_check_failure,
    slack_morning_digest,
]

__all__ = [
    "SlackResource",
    "alert_sensors",
    "slack_morning_digest",
    "slack_on_check_failure",
    "slack_on_pending_run_alerts",
    "slack_on_run_failure",
    "slack_resource",
    "startup_check",
]
