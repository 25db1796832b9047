"""Start, watch and stop the processes a benchmark times, and leave none behind.

Every measured command runs in its own session, so the whole tree it spawns (dbt, dagster's
code servers) can be found through /proc by session id: that is how peak memory is summed
over the tree and how a stop makes sure nothing survives.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# The project's own virtualenv, wherever the repo is cloned (else the interpreter's own bin/).
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
PYTHON = str(BIN / "python")
DAGSTER = str(BIN / "dagster")
DBT = str(BIN / "dbt")

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_SAMPLE_EVERY_S = 0.05
_STOP_TIMEOUT_S = 30.0
# Never go through an HTTP proxy from the environment: every server here is on loopback.
LOCAL_HTTP = requests.Session()
LOCAL_HTTP.trust_env = False


@dataclass
class Sample:
    """One measured run: wall time, peak RSS of its process tree, and how it ended."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    note: str = ""
    orders: int | None = None
    """Orders in the warehouse afterwards (marts.orders): proof both sides did the same work."""
    rows: int | None = None
    """Rows loaded, orders and items together (the ingestion-rate item)."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def as_dict(self) -> dict:
        return asdict(self)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_members(sid: int) -> list[tuple[int, int]]:
    """(pid, rss bytes) of every live process in session `sid`."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = raw[raw.rfind(b")") + 2 :].split()
        # fields[0] is field 3 (state); session is field 6, rss (pages) field 24.
        if int(fields[3]) == sid and fields[0] != b"Z":
            members.append((int(entry.name), int(fields[21]) * _PAGE_SIZE))
    return members


class TreeMemory:
    """Samples the summed RSS of a session every 50 ms in a thread; keeps the peak."""

    def __init__(self, sid: int):
        self.sid = sid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss for _, rss in _session_members(self.sid)))
            self._stop.wait(_SAMPLE_EVERY_S)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _reset_sigint() -> None:
    # A child of a background job inherits an ignored SIGINT, and `dagster dev` maps SIGTERM
    # onto SIGINT: without this it would ignore the stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen_session(args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path = ROOT):
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_reset_sigint,
        )


def stop_session(process: subprocess.Popen, timeout_s: float = _STOP_TIMEOUT_S) -> None:
    """SIGTERM the process's group, wait, then SIGKILL whatever of its session is left."""
    sid = process.pid
    if process.poll() is None:
        with _suppress_gone():
            os.killpg(sid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with _suppress_gone():
                os.killpg(sid, signal.SIGKILL)
            process.wait()
    # Children that outlived their parent (code servers) still carry the session id: a few
    # seconds to finish, then they are killed.
    deadline = time.monotonic() + 5
    while _session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid, _ in _session_members(sid):
        with _suppress_gone():
            os.kill(pid, signal.SIGKILL)


def _suppress_gone():
    """For signals to a process that may have exited meanwhile."""
    return suppress(ProcessLookupError, PermissionError)


def run_measured(
    args: Sequence[str], env: Mapping[str, str], log: Path, timeout_s: float = 3600
) -> Sample:
    """Run `args` to completion; its wall time and the peak RSS summed over its tree."""
    started = time.perf_counter()
    process = popen_session(args, env, log)
    with TreeMemory(process.pid) as memory:
        try:
            returncode = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_session(process)
            returncode = -1
        seconds = time.perf_counter() - started
    stop_session(process)  # reap anything the command left running
    note = "" if returncode == 0 else f"exit {returncode}, log {log}"
    return Sample(seconds, memory.peak / 2**20, returncode, note)


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def jaffle_api(orders_per_day: int, logs: Path) -> Iterator[str]:
    """The stand-in API at `orders_per_day` on a free loopback port; yields JAFFLE_API_URL."""
    port = free_port()
    env = {
        **os.environ,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "JAFFLE_API_ORDERS_PER_DAY": str(orders_per_day),
    }
    log = logs / f"api-{orders_per_day}.log"
    process = popen_session([PYTHON, "-m", "jaffle_api"], env, log)
    try:
        wait_until(lambda: LOCAL_HTTP.get(f"http://127.0.0.1:{port}/health", timeout=1).ok, process)
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        stop_session(process)


def wait_until(ready, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} while starting")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{process.args} was not ready after {timeout_s} s")


_WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace {
    locationEntries { name loadStatus locationOrLoadError { __typename } } } } }
"""


def _location_loaded(port: int) -> bool:
    response = LOCAL_HTTP.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": _WORKSPACE_QUERY}, timeout=5
    )
    if not response.ok:
        return False
    workspace = response.json().get("data", {}).get("workspaceOrError", {})
    for entry in workspace.get("locationEntries", []):
        kind = (entry.get("locationOrLoadError") or {}).get("__typename")
        if kind == "PythonError":
            raise RuntimeError(f"code location {entry['name']} failed to load")
        if entry["loadStatus"] == "LOADED" and kind == "RepositoryLocation":
            return True
    return False


def wait_for_location(port: int, process: subprocess.Popen, timeout_s: float = 300) -> None:
    """Until the webserver on `port` lists the code location as loaded."""
    wait_until(lambda: _location_loaded(port), process, timeout_s=timeout_s)


def time_dagster_dev(
    module: str, env: Mapping[str, str], log: Path, working_dir: Path | None = None
) -> Sample:
    """Seconds from launching `dagster dev -m module` until its webserver reports the code
    location loaded; then the whole tree is stopped."""
    port = free_port()
    args = [DAGSTER, "dev", "-m", module, "--host", "127.0.0.1", "--port", str(port)]
    if working_dir is not None:
        args += ["--working-directory", str(working_dir)]
    started = time.perf_counter()
    process = popen_session(args, env, log)
    try:
        with TreeMemory(process.pid) as memory:
            try:
                wait_for_location(port, process)
            except (RuntimeError, TimeoutError) as error:
                return Sample(time.perf_counter() - started, memory.peak / 2**20, -1, str(error))
            seconds = time.perf_counter() - started
        return Sample(seconds, memory.peak / 2**20, 0)
    finally:
        stop_session(process)
