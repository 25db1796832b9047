"""The Slack resource: posts and updates messages in one channel through Slack's Web API.

Built on `slack_sdk.WebClient` with a configurable base URL (dagster-slack's sensor factory cannot
take one), so tests and forks can point it at a stand-in. A message counts as sent only once
Slack answered `ok: true`; rate limits (429 + Retry-After), 500/503 answers and dropped
connections are retried a bounded number of times first. Any other refusal is permanent and
never retried: a bad token or channel (`problem()` names it, and the sensors skip while it
lasts), or a message Slack will not take.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import dagster as dg
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from orchestration.alerts import settings as alert_settings

ALERTS_OFF = f"Slack alerts are off: {alert_settings.TOKEN_ENV_VAR} is not set."

_TOKEN = alert_settings.TOKEN_ENV_VAR
_CHANNEL = "SLACK_CHANNEL"
_NEW_TOKEN = (
    f"set {_TOKEN} to the bot token (xoxb-...) of a Slack app in your workspace, then restart"
)
_INVITE = "invite the bot there (/invite @your-app)"
SETUP_ERRORS = {
    "invalid_auth": f"Slack does not know {_TOKEN}; {_NEW_TOKEN}",
    "not_authed": f"Slack received no token; {_NEW_TOKEN}",
    "account_inactive": f"the app or user of {_TOKEN} is deactivated; {_NEW_TOKEN}",
    "token_revoked": f"{_TOKEN} was revoked; {_NEW_TOKEN}",
    "token_expired": f"{_TOKEN} has expired; {_NEW_TOKEN}",
    "no_permission": f"{_TOKEN} may not act in this workspace; {_NEW_TOKEN}",
    "team_access_not_granted": f"{_TOKEN} has no access to this workspace; {_NEW_TOKEN}",
    "org_login_required": "the workspace is moving to an Enterprise Grid org; try again later",
    "missing_scope": f"the app of {_TOKEN} lacks the chat:write scope; add it and reinstall",
    "channel_not_found": f"{_CHANNEL} names no channel the bot can see; set it to a channel "
    f"name or ID and {_INVITE}",
    "not_in_channel": f"the bot is not in {_CHANNEL}; {_INVITE}",
    "is_archived": f"{_CHANNEL} is archived; unarchive it or set {_CHANNEL} to another channel",
    "restricted_action": f"the workspace does not let the bot post in {_CHANNEL}",
}
"""Refusals about the setup, not about one message: nothing can be sent until a person acts."""

RECHECK_S = 600
"""How long Slack's verdict on the setup is trusted before `problem()` asks again."""
_verdicts: dict[str, tuple[str | None, float]] = {}
"""Per Slack setup (URL, channel, hashed token): the problem found, or None, and when. Kept for
the process because Dagster builds the resource anew for every tick."""


class AlertNotSent(RuntimeError):
    """Slack did not accept an alert (after retries); it was not recorded as sent."""

    def __init__(self, message: str, code: str | None = None, transient: bool = True):
        super().__init__(message)
        self.code = code
        """Slack's error code when it answered one, e.g. `ratelimited`, `message_not_found`."""
        self.transient = transient
        """Whether trying again later can succeed (rate limit, 5xx, no connection)."""

    @property
    def setup_problem(self) -> bool:
        """Slack refused the token or the channel: no alert gets through until that is fixed."""
        return self.code in SETUP_ERRORS


@dataclass(frozen=True)
class SlackMessage:
    """Where a posted message lives: chat.update needs the channel ID Slack answered with."""

    channel: str
    ts: str


class SlackResource(dg.ConfigurableResource):
    """Posts alerts to one Slack channel. Without a token it is off and does nothing."""

    token: str | None = None
    """Bot token (xoxb-...). Give it as `dg.EnvVar("SLACK_BOT_TOKEN")`, never as a literal."""
    channel: str = alert_settings.DEFAULT_CHANNEL
    base_url: str = alert_settings.DEFAULT_API_URL
    max_retries: int = 3
    """Retries per request on 429, 500/503 and connection errors; then the alert fails."""
    timeout_seconds: int = 10

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.token.strip())

    def post(self, text: str, blocks: list[dict] | None = None) -> SlackMessage:
        """chat.postMessage; returns where the message is once Slack answered ok."""
        response = self._call("chat.postMessage", channel=self.channel, text=text, blocks=blocks)
        return SlackMessage(channel=response["channel"], ts=response["ts"])

    def update(
        self, message: SlackMessage, text: str, blocks: list[dict] | None = None
    ) -> SlackMessage:
        """chat.update of a message this resource posted earlier."""
        response = self._call(
            "chat.update", channel=message.channel, ts=message.ts, text=text, blocks=blocks
        )
        return SlackMessage(channel=response.get("channel", message.channel), ts=response["ts"])

    def problem(self) -> str | None:
        """One line naming what keeps every alert from Slack (a refused token or channel), or
        None. Asks Slack (`auth.test`, once, no retries) when it has not for RECHECK_S seconds
        in this process; a channel problem is learnt from the last refused post. Slack being
        slow or down is no problem here: posting retries those."""
        known = _verdicts.get(self._setup_key())
        if known and time.monotonic() - known[1] < RECHECK_S:
            return known[0]
        try:
            self.auth_test()
        except AlertNotSent as error:
            if not error.setup_problem:
                return None  # transient: not a verdict on the setup, ask again next time
            return _verdicts[self._setup_key()][0]
        _verdicts[self._setup_key()] = (None, time.monotonic())
        return None

    def auth_test(self) -> dict:
        """Slack's `auth.test`, tried once: whether Slack takes the token. Raises AlertNotSent."""
        return self._call("auth.test", retries=0)

    def _setup_key(self) -> str:
        token = hashlib.sha256((self.token or "").encode()).hexdigest()
        return f"{self.base_url}|{self.channel}|{token}"

    def _client(self, retries: int) -> WebClient:
        return WebClient(
            token=self.token,
            base_url=self.base_url,
            timeout=self.timeout_seconds,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=retries),
                ServerErrorRetryHandler(max_retry_count=retries),
                ConnectionErrorRetryHandler(max_retry_count=retries),
            ],
        )

    def _call(self, method: str, retries: int | None = None, **params) -> dict:
        if not self.enabled:
            raise AlertNotSent(ALERTS_OFF, transient=False)
        retries = self.max_retries if retries is None else retries
        params = {key: value for key, value in params.items() if value is not None}
        if "text" in params:
            params["text"] = self._redact(params["text"])
        try:
            response = self._client(retries).api_call(method, json=params)
        except SlackApiError as error:
            answer = error.response
            detail = answer.get("error") if isinstance(answer.data, dict) else None
            if detail and len(detail) > 80:  # e.g. a load balancer's HTML page quoted whole
                detail = detail[:79] + "…"
            # Slack answers a refusal with HTTP 200 and `ok: false`; only 429 and 5xx pass.
            transient = answer.status_code == 429 or answer.status_code >= 500
            if detail in SETUP_ERRORS:
                line = f"Slack alerts cannot be sent ({detail}): {SETUP_ERRORS[detail]}."
                _verdicts[self._setup_key()] = (line, time.monotonic())
                raise AlertNotSent(line, code=detail, transient=False) from error
            tried = f" after up to {retries} retries" if transient else ", not retried"
            raise AlertNotSent(
                f"Slack refused {method} (HTTP {answer.status_code}"
                f"{', ' + detail if detail else ''}){tried}.",
                code=detail,
                transient=transient,
            ) from error
        except OSError as error:
            reason = getattr(error, "reason", error)
            raise AlertNotSent(
                f"Slack unreachable at {self.base_url} for {method} ({type(reason).__name__}) "
                f"after up to {retries} retries."
            ) from error
        return response.data  # type: ignore[return-value]

    def _redact(self, text: str) -> str:
        # Belt and braces: an error message quoted in an alert must never carry the token.
        return text.replace(self.token, "[redacted]") if self.token else text


def slack_resource() -> SlackResource:
    """The resource as the code location uses it, configured from the environment.

    The token goes through `dg.EnvVar` only when it is set: Dagster fails to build a resource
    whose EnvVar is missing, and a fork without Slack should load with alerts off, not fail.
    """
    config = alert_settings.load()
    return SlackResource(
        token=dg.EnvVar(alert_settings.TOKEN_ENV_VAR)
        if alert_settings.token_configured()
        else None,
        channel=config.channel,
        base_url=config.api_url,
    )
