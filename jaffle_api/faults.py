"""Faults on demand: latency, outages, rate limits and transient failures, replayable by seed.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware: it costs nothing on the
happy path, and it can do what a real flaky server does, such as dropping the connection
halfway through a body.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from typing import Any

from jaffle_api.settings import Settings

# What a transient failure looks like, chosen evenly; "reset" drops the connection mid-body.
_TRANSIENT = (500, 502, 503, "reset")

Fault = int | str | None


def choose_fault(draw: float, error_rate: float, rate_limit_rate: float) -> Fault:
    """The fault for a request whose uniform draw in [0, 1) is `draw`: a transient failure
    (an HTTP status or "reset"), 429, or None. One draw decides everything, so the sequence of
    faults depends only on the seed and the order requests arrive in."""
    if draw < error_rate:
        return _TRANSIENT[int(draw / error_rate * len(_TRANSIENT))]
    if draw < error_rate + rate_limit_rate:
        return 429
    return None


class FaultInjector:
    """Wraps the app and injects the faults that `settings` ask for on paths under `prefix`."""

    def __init__(self, app: Any, settings: Settings, prefix: str):
        self._app = app
        self._settings = settings
        self._prefix = prefix
        self._rng = random.Random(settings.fault_seed)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        settings = self._settings
        # Drawn before any await, so the draws follow arrival order even under latency.
        fault = choose_fault(self._rng.random(), settings.error_rate, settings.rate_limit_rate)
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        if settings.outage:
            await _send_json(send, 503, "Service unavailable: the jaffle-shop API is down.")
        elif fault == 429:
            await _send_json(
                send,
                429,
                "Too many requests: slow down and retry.",
                [(b"retry-after", str(settings.retry_after_s).encode())],
            )
        elif fault == "reset":
            await _reset_midway(self._app, scope, receive, send)
        elif fault is not None:
            await _send_json(send, int(fault), "Transient failure: retry the request.")
        else:
            await self._app(scope, receive, send)


async def _send_json(
    send: Any, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _reset_midway(app: Any, scope: dict, receive: Any, send: Any) -> None:
    """Send the real response's status, headers and half its body, then stop.

    Returning with the body short of its Content-Length makes the server close the socket, so
    the client sees what a reset connection looks like: a 200 whose body never completes.
    """
    start: dict = {}
    chunks: list[bytes] = []

    async def capture(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    body = b"".join(chunks)
    await send(start)
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
