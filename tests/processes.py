"""Drive the platform's own commands as real processes: `make backfill`, `make dev`, and the
process trees they start, so tests can kill them the way a laptop, an OOM kill or `timeout` does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def start_make(target: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`make <target...>` in its own session, as a terminal would run it; output to `log`."""
    return subprocess.Popen(
        ["make", "--no-print-directory", *target],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def make_backfill(start: str, end: str, env: dict[str, str], log: Path, timeout_s: float = 600):
    """Run `make backfill` to the end; returns (exit code, output)."""
    process = start_make(["backfill", f"START={start}", f"END={end}"], env, log)
    try:
        process.wait(timeout=timeout_s)
    finally:
        kill_tree(process.pid)
    return process.returncode, log.read_text()


def descendants(pid: int) -> list[int]:
    """Every live process under `pid` (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def command_line(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes()).replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to `pid` and everything under it at once, as when a machine loses power.

    For SIGKILL the tree is frozen first (SIGSTOP), so nothing forks between listing it and
    killing it, and the call returns once every process is gone: what they held (the DuckDB
    file lock, ports) is free."""
    targets = [pid, *descendants(pid)]
    if sig == signal.SIGKILL:
        _signal_all(targets, signal.SIGSTOP)
        targets = list(dict.fromkeys([*targets, *descendants(pid)]))
    _signal_all(targets, sig)
    if sig == signal.SIGKILL:
        deadline = time.monotonic() + 30
        while any(_running(target) for target in targets) and time.monotonic() < deadline:
            time.sleep(0.05)


def _signal_all(pids: list[int], sig: int) -> None:
    for target in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, sig)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no files any more)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except (OSError, IndexError):
        return False


def processes_matching(text: str) -> list[int]:
    """Live processes whose command line contains `text` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and text in command_line(int(entry.name)):
            with contextlib.suppress(OSError):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
    return found


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(poll_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def step_started(home: Path, step_key: str) -> bool:
    """Whether a run in the instance at `home` has started the step `step_key`."""
    if not (home / ".instance-ready").exists():
        return False  # `make setup` has not created the instance yet
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            records = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.STEP_START
            ).records
            if any(r.event_log_entry.step_key == step_key for r in records):
                return True
    return False


def claimed_pool_slots(home: Path, pool: str = "duckdb") -> list[str]:
    """Run ids holding a slot of `pool` in the instance at `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(pool)
        return [slot.run_id for slot in info.claimed_slots]


def pending_pool_runs(home: Path, pool: str = "duckdb") -> list[str]:
    """Run ids with a step queued for a slot of `pool` in the instance at `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(pool)
        return [step.run_id for step in info.pending_steps]
