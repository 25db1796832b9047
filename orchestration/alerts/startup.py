"""Slack checked once as `make dev` and `make serve` start, so that a refused token or channel is
one line at start, not a silence discovered at the first failure."""

from __future__ import annotations

import os
import sys

from orchestration.alerts import settings as alert_settings
from orchestration.alerts.slack import AlertNotSent, SlackResource
from settings import SettingError


def startup_check(command: str) -> str | None:
    """Ask Slack (`auth.test`) whether it takes SLACK_BOT_TOKEN; print one line to stderr,
    prefixed with `command`, if it does not or cannot be reached, and return it. Prints nothing
    when alerts are off (no token) or Slack took the token. Never stops the command: the
    platform runs without alerts."""
    if not alert_settings.token_configured():
        return None
    try:
        config = alert_settings.load()
    except SettingError as error:
        return _say(command, str(error))
    slack = SlackResource(
        token=os.environ[alert_settings.TOKEN_ENV_VAR],
        channel=config.channel,
        base_url=config.api_url,
        timeout_seconds=5,
    )
    try:
        slack.auth_test()
    except AlertNotSent as error:
        if error.setup_problem:
            return _say(command, str(error))
        return _say(command, f"Slack alerts may be late: {error} The sensors try again.")
    return None


def _say(command: str, line: str) -> str:
    print(f"{command}: {line}", file=sys.stderr, flush=True)
    return line
