"""A local stand-in for Slack's Web API: `auth.test`, `chat.postMessage` and `chat.update` over
real HTTP.

It answers the way Slack does (HTTP 200 with `ok: false` and an error code for auth and argument
errors; 429 with Retry-After when rate limited), and can be told to fail the next requests, so
tests exercise the real client, its retries and its error handling.

    with running_slack(token="xoxb-test") as slack:
        ...  # point SLACK_API_URL at slack.base_url
        assert slack.posts[0].text.startswith(":red_circle:")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

CHANNEL_ID = "C123"
# What the alert tests configure: a token that must never be printed, and the link base.
TOKEN = "xoxb-test-7f3a9c1e-never-print-me"
WEBSERVER = "http://dagster.test:3000"


@dataclass(frozen=True)
class Received:
    """A message Slack accepted: a new post, or an update of the message at `ts`."""

    method: str
    channel: str
    text: str
    blocks: list | None
    ts: str
    at: float = field(default_factory=time.monotonic)
    """When it arrived (`time.monotonic()`)."""


@dataclass(frozen=True)
class Attempt:
    """Any request that reached the stand-in, accepted or not."""

    method: str
    status: int
    error: str | None


class SlackStandIn:
    def __init__(self, token: str):
        self.token = token
        self.messages: list[Received] = []
        self.attempts: list[Attempt] = []
        self._failures: list[int] = []
        self._down: int | None = None
        self._texts: dict[str, str] = {}
        self._revoked = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval so that stopping the server does not cost half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    @property
    def posts(self) -> list[Received]:
        return [m for m in self.messages if m.method == "chat.postMessage"]

    @property
    def updates(self) -> list[Received]:
        return [m for m in self.messages if m.method == "chat.update"]

    @property
    def chat_attempts(self) -> list[Attempt]:
        """The attempts to post or update a message (not `auth.test`)."""
        return [a for a in self.attempts if a.method.startswith("chat.")]

    def fail_next(self, count: int, status: int = 429) -> None:
        """Answer the next `count` message requests with `status`: 429 (rate limited), 500 or
        503."""
        self.answer_next(*[status] * count)

    def answer_next(self, *statuses: int) -> None:
        """Script the next answers to message requests (`chat.*`) in order: 200 answers as
        usual, 429/500/503 fail. `auth.test` answers as usual meanwhile (see `go_down`)."""
        with self._lock:
            self._failures.extend(statuses)

    def go_down(self, status: int = 500) -> None:
        """Answer every request with `status` (429, 500, 503) until `recover()`."""
        with self._lock:
            self._down = status

    def recover(self) -> None:
        """Answer as usual again: ends an outage and drops any scripted failures."""
        with self._lock:
            self._down = None
            self._failures.clear()

    def revoke_token(self) -> None:
        """Revoke the token, as a workspace admin can: every call is then `token_revoked`."""
        with self._lock:
            self._revoked = True

    def messages_about(self, needle: str) -> list[Received]:
        """The accepted messages (posts and updates) whose text contains `needle`."""
        with self._lock:
            return [m for m in self.messages if needle in m.text]

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def handle(self, method: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._down is not None:
                status = self._down
            elif self._failures and method.startswith("chat."):
                status = self._failures.pop(0)
            else:
                status = 200
            if status != 200:
                self.attempts.append(Attempt(method, status, None))
                return _failure(status)
            answer = self._answer(method, headers, body)
            self.attempts.append(Attempt(method, 200, answer.get("error")))
            return 200, {"Content-Type": "application/json; charset=utf-8"}, _json(answer)

    def _answer(self, method: str, headers, body: bytes) -> dict:
        if method not in {"auth.test", "chat.postMessage", "chat.update"}:
            return {"ok": False, "error": "unknown_method"}
        try:
            params = _parse(headers.get("Content-Type", ""), body)
        except ValueError:
            return {"ok": False, "error": "invalid_form_data"}
        token = _bearer(headers.get("Authorization")) or params.get("token")
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.token:
            return {"ok": False, "error": "invalid_auth"}
        if self._revoked:
            return {"ok": False, "error": "token_revoked"}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://stand-in.slack.com/",
                "team": "Stand-in",
                "user": "alerts",
                "team_id": "T123",
                "user_id": "U123",
                "bot_id": "B123",
                "is_enterprise_install": False,
            }
        channel, text, blocks = params.get("channel"), params.get("text"), params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if method == "chat.postMessage":
            ts = f"1700000000.{len(self._texts) + 1:04d}00"
            channel_id = CHANNEL_ID
        else:
            ts = params.get("ts", "")
            if channel != CHANNEL_ID:
                return {"ok": False, "error": "channel_not_found"}
            if ts not in self._texts:
                return {"ok": False, "error": "message_not_found"}
            channel_id = channel
        self._texts[ts] = text or ""
        self.messages.append(Received(method, channel, text or "", blocks, ts))
        message = {"type": "message", "text": text, "ts": ts, "bot_id": "B123"}
        return {"ok": True, "channel": channel_id, "ts": ts, "text": text, "message": message}


@contextmanager
def running_slack(token: str) -> Iterator[SlackStandIn]:
    """The stand-in on a free loopback port, stopped on exit."""
    standin = SlackStandIn(token).start()
    try:
        yield standin
    finally:
        standin.stop()


def _handler_for(standin: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith("/api/"):
                status, headers, payload = 404, {}, b"Not Found"
            else:
                method = self.path.removeprefix("/api/").split("?")[0]
                status, headers, payload = standin.handle(method, self.headers, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args) -> None:  # noqa: A002
            pass  # keep test output clean

    return Handler


def _failure(status: int) -> tuple[int, dict[str, str], bytes]:
    if status == 429:
        headers = {"Retry-After": "1", "Content-Type": "application/json; charset=utf-8"}
        return 429, headers, _json({"ok": False, "error": "ratelimited"})
    # Slack's load balancers answer 5xx with HTML, not the API's JSON.
    body = f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode()
    return status, {"Content-Type": "text/html"}, body


def _parse(content_type: str, body: bytes) -> dict:
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("JSON body is not an object")
        return data
    if content_type.startswith("application/x-www-form-urlencoded") or not body:
        return {key: values[-1] for key, values in parse_qs(body.decode()).items()}
    raise ValueError(f"unsupported content type {content_type!r}")


def _bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return None


def _json(data: dict) -> bytes:
    return json.dumps(data).encode()
