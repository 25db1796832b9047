"""The Slack resource: posts and updates messages in one channel through Slack's Web API.

Built on `slack_sdk.WebClient` with a configurable base URL (dagster-slack's sensor factory cannot
take one), so tests and forks can point it at a stand-in. A message counts as sent only once
Slack answered `ok: true`; rate limits (429 + Retry-After), 500/503 answers and dropped
connections are retried a bounded number of times first.
"""

from __future__ import annotations

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


class AlertNotSent(RuntimeError):
    """Slack did not accept an alert (after retries); it was not recorded as sent."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code
        """Slack's error code when it answered one, e.g. `ratelimited`, `message_not_found`."""


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

    def _client(self) -> WebClient:
        return WebClient(
            token=self.token,
            base_url=self.base_url,
            timeout=self.timeout_seconds,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=self.max_retries),
                ServerErrorRetryHandler(max_retry_count=self.max_retries),
                ConnectionErrorRetryHandler(max_retry_count=self.max_retries),
            ],
        )

    def _call(self, method: str, **params) -> dict:
        if not self.enabled:
            raise AlertNotSent(ALERTS_OFF)
        params = {key: value for key, value in params.items() if value is not None}
        params["text"] = self._redact(params["text"])
        try:
            response = self._client().api_call(method, json=params)
        except SlackApiError as error:
            answer = error.response
            detail = answer.get("error") if isinstance(answer.data, dict) else None
            if detail and len(detail) > 80:  # e.g. a load balancer's HTML page quoted whole
                detail = detail[:79] + "…"
            raise AlertNotSent(
                f"Slack refused {method} (HTTP {answer.status_code}"
                f"{', ' + detail if detail else ''}) after up to {self.max_retries} retries.",
                code=detail,
            ) from error
        except OSError as error:
            reason = getattr(error, "reason", error)
            raise AlertNotSent(
                f"Slack unreachable at {self.base_url} for {method} ({type(reason).__name__}) "
                f"after up to {self.max_retries} retries."
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
