"""Start a real `dagster dev` for a test and always stop it, children included."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")

LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def location_loaded(base_url: str) -> bool:
    """True once the webserver reports the code location loaded; raises if it failed to load."""
    try:
        answer = requests.post(f"{base_url}/graphql", json={"query": LOCATION_QUERY}, timeout=5)
        entries = answer.json()["data"]["workspaceOrError"]["locationEntries"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return False
    for entry in entries:
        state = entry["locationOrLoadError"] or {}
        if state.get("__typename") == "PythonError":
            raise RuntimeError(f"code location failed to load: {state['message']}")
    return bool(entries) and all(
        e["loadStatus"] == "LOADED"
        and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
        for e in entries
    )


@contextlib.contextmanager
def running_dagster_dev(
    tmp_path: Path, env: dict[str, str], timeout_s: float = 180
) -> Iterator[str]:
    """`dagster dev` on 127.0.0.1 with its own DAGSTER_HOME and TMPDIR; yields its base URL."""
    port = free_port()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [DAGSTER, "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "TMPDIR": str(tmpdir)},
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group with default signal handling, so SIGTERM reaches every child.
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not location_loaded(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (tmp_path / "dagster_dev.log").read_text()[-3000:]
                raise RuntimeError(f"dagster dev did not load the code location:\n{tail}")
            time.sleep(0.5)
        yield base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # code servers that outlived their parent
        log.close()
