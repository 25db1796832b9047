"""Run the stand-in in a background thread on a loopback port, for tests and local scripts."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from jaffle_api.app import API_PREFIX, create_app
from jaffle_api.settings import Settings

_HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0
# Bypass any HTTP proxy from the environment: this server is only ever on loopback.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextmanager
def running_api(settings: Settings | None = None, port: int = 0) -> Iterator[str]:
    """Serve the stand-in on 127.0.0.1 (a free port when `port` is 0) and yield its base URL,
    e.g. "http://127.0.0.1:54321/api/v1"; the server is stopped on exit."""
    # Binding here, not in uvicorn, is what lets port 0 work: the kernel picks a free port and
    # we read it back before the server starts.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((_HOST, port))
    root = f"http://{_HOST}:{sock.getsockname()[1]}"
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="jaffle-api", daemon=True
    )
    thread.start()
    try:
        _wait_until_healthy(root, thread)
        yield root + API_PREFIX
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_S)
        sock.close()


def _wait_until_healthy(root: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the jaffle-shop stand-in stopped while starting; see its log")
        try:
            with _DIRECT.open(f"{root}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"the jaffle-shop stand-in did not answer {root}/health in time")
