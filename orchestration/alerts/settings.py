"""The alert settings, read from the environment in one place.

The bot token is the one secret: it is never read into a value here. `token_configured()` only
asks whether it is set, and `slack_resource()` hands Dagster a `dg.EnvVar` that Dagster resolves
when it builds the resource, so the token never sits in code, config shown in the UI, or logs.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from settings import SettingError

TOKEN_ENV_VAR = "SLACK_BOT_TOKEN"
DEFAULT_CHANNEL = "#data-alerts"
DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
DEFAULT_WINDOW_MINUTES = 60
DEFAULT_SENSOR_INTERVAL_S = 30
# After the daily schedule (02:00 UTC) and the freshness deadline (06:00 UTC).
DEFAULT_DIGEST_HOUR_UTC = 7


@dataclass(frozen=True)
class AlertSettings:
    channel: str
    """SLACK_CHANNEL: where alerts go (a name like #data-alerts or a channel ID)."""
    api_url: str
    """SLACK_API_URL: the Slack Web API base URL (a local stand-in in tests)."""
    webserver_url: str
    """DAGSTER_WEBSERVER_URL: base of the links to runs and assets in messages."""
    grouping_window: dt.timedelta
    """ALERT_GROUPING_WINDOW_MINUTES: repeats within this window update the first message."""


def token_configured() -> bool:
    """Whether SLACK_BOT_TOKEN is set to something; without it alerts are off."""
    return bool(os.environ.get(TOKEN_ENV_VAR, "").strip())


def load() -> AlertSettings:
    """Read the settings now (not at import), so tests and CLIs can set the environment first."""
    raw_window = os.environ.get("ALERT_GROUPING_WINDOW_MINUTES", str(DEFAULT_WINDOW_MINUTES))
    try:
        window_minutes = int(raw_window)
    except ValueError:
        raise SettingError(
            f"ALERT_GROUPING_WINDOW_MINUTES={raw_window!r} is not a whole number "
            f"(default {DEFAULT_WINDOW_MINUTES})."
        ) from None
    if window_minutes < 0:
        raise SettingError(
            f"ALERT_GROUPING_WINDOW_MINUTES={raw_window!r} must be 0 (no grouping) or more."
        )
    api_url = os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
    return AlertSettings(
        channel=os.environ.get("SLACK_CHANNEL") or DEFAULT_CHANNEL,
        # slack_sdk joins method names onto the base URL, so it must end with a slash.
        api_url=api_url if api_url.endswith("/") else api_url + "/",
        webserver_url=(os.environ.get("DAGSTER_WEBSERVER_URL") or DEFAULT_WEBSERVER_URL).rstrip(
            "/"
        ),
        grouping_window=dt.timedelta(minutes=window_minutes),
    )


def sensor_interval_s() -> int:
    """ALERT_SENSOR_INTERVAL_S: seconds between two evaluations of each alert sensor.

    Read when the code location loads (Dagster takes a sensor's interval from its definition).
    """
    raw = os.environ.get("ALERT_SENSOR_INTERVAL_S", str(DEFAULT_SENSOR_INTERVAL_S))
    try:
        seconds = int(raw)
    except ValueError:
        raise SettingError(
            f"ALERT_SENSOR_INTERVAL_S={raw!r} is not a whole number "
            f"(default {DEFAULT_SENSOR_INTERVAL_S})."
        ) from None
    if seconds < 1:
        raise SettingError(f"ALERT_SENSOR_INTERVAL_S={raw!r} must be 1 or more.")
    return seconds


def digest_hour_utc() -> int:
    """DIGEST_HOUR_UTC: the hour (0-23, UTC) from which the morning digest is sent, once a day."""
    raw = os.environ.get("DIGEST_HOUR_UTC", str(DEFAULT_DIGEST_HOUR_UTC))
    try:
        hour = int(raw)
    except ValueError:
        hour = -1
    if not 0 <= hour <= 23:
        raise SettingError(
            f"DIGEST_HOUR_UTC={raw!r} must be a whole hour from 0 to 23 "
            f"(default {DEFAULT_DIGEST_HOUR_UTC}: after the 02:00 schedule and 06:00 deadline)."
        )
    return hour
