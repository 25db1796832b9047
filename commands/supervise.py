"""Run a long-lived command as a child and stop it cleanly on any stop signal.

`dagster asset materialize` waiting on a pool slot ignores SIGTERM, and `dagster dev` started
from a script maps SIGTERM onto an ignored SIGINT; both stop on SIGINT (Ctrl-C). A process
manager, `timeout` or CI sends SIGTERM. So `make backfill` and `make dev` run their commands
through `supervise()`: the child gets its own process group, every stop signal this process
receives becomes a SIGINT to that group, and whatever is left after a grace period is killed.
`make serve` runs several services the same way through `supervise_all()`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Long enough for Dagster to record the run's end and release its pool slots. SUPERVISE_GRACE_S
# overrides it: the test suite shortens it, since a process that ignores the interrupt (a run
# waiting on a pool slot) is only killed once the grace period is over.
GRACE_S = 30.0
GRACE_VARIABLE = "SUPERVISE_GRACE_S"


def grace_period() -> float:
    """Seconds between the interrupt and the kill: SUPERVISE_GRACE_S, else GRACE_S."""
    raw = os.environ.get(GRACE_VARIABLE, "").strip()
    if not raw:
        return GRACE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(
            f"{GRACE_VARIABLE}={raw!r} must be a number of seconds above 0 "
            f"(default {GRACE_S:.0f}); unset it to use the default."
        )
    return value


def _grace_or_exit(grace_s: float | None) -> float | None:
    """`grace_s`, else the setting; None (after saying why on stderr) if the setting is bad."""
    if grace_s is not None:
        return grace_s
    try:
        return grace_period()
    except ValueError as error:
        print(error, file=sys.stderr, flush=True)
        return None


def supervise(command: Sequence[str], grace_s: float | None = None) -> int:
    """Run `command` to the end and return its exit code; on a stop signal, interrupt it, wait
    up to `grace_s` (default: `grace_period()`), then kill its whole process group. Returns 128 +
    signal when stopped, 2 without starting anything if SUPERVISE_GRACE_S is unusable."""
    grace_s = _grace_or_exit(grace_s)
    if grace_s is None:
        return 2
    child = subprocess.Popen(
        list(command),
        start_new_session=True,
        # A shell may have started us with SIGINT ignored; the child must honour it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    received: list[int] = []

    def on_stop(signum: int, _frame) -> None:
        if not received:
            _signal_group(child.pid, signal.SIGINT)
        received.append(signum)

    previous = {sig: signal.signal(sig, on_stop) for sig in STOP_SIGNALS}
    try:
        while child.poll() is None:
            if received:
                _stop(child, grace_s)
                break
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Nothing of the child's group may outlive it (dbt, code servers).
        _signal_group(child.pid, signal.SIGKILL)
    if received:
        return 128 + received[0]
    return child.returncode


def _stop(child: subprocess.Popen, grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if child.poll() is None:
        _signal_group(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass(frozen=True)
class Service:
    """One long-lived process of a group: its command, and how to tell it is ready to serve
    (checked before the next service starts; None: started is ready)."""

    name: str
    command: Sequence[str]
    ready: Callable[[], bool] | None = None
    ready_timeout_s: float = 300.0


def supervise_all(services: Sequence[Service], grace_s: float | None = None) -> int:
    """Start `services` in order, each in its own process group, waiting for each to be ready
    before the next; then run until a stop signal or until any of them exits. Either way every
    group is interrupted (the last started first), given `grace_s`, then killed. Returns 128 +
    signal when stopped, else the exit code of the service that ended (1 if it exited 0, since a
    service is not meant to end, or if one never became ready; 2 without starting anything if
    SUPERVISE_GRACE_S is unusable). `grace_s` defaults to `grace_period()`."""
    grace_s = _grace_or_exit(grace_s)
    if grace_s is None:
        return 2
    received: list[int] = []

    def on_stop(signum: int, _frame) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_stop) for sig in STOP_SIGNALS}
    started: list[tuple[Service, subprocess.Popen]] = []
    code = 0
    try:
        for service in services:
            if received:
                break
            child = _start(service.command)
            started.append((service, child))
            code = _wait_ready(service, child, received)
            if code:
                break
        while not received and not code:
            for service, child in started:
                if child.poll() is not None:
                    print(
                        f"{service.name} exited ({child.returncode}): stopping the others.",
                        file=sys.stderr,
                        flush=True,
                    )
                    code = child.returncode or 1
                    break
            else:
                time.sleep(0.2)
    finally:
        _stop_all([child for _, child in reversed(started)], grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        return 128 + received[0]
    return code


def _start(command: Sequence[str]) -> subprocess.Popen:
    return subprocess.Popen(
        list(command),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_ready(service: Service, child: subprocess.Popen, received: list[int]) -> int:
    """0 once `service` is ready (or a stop signal came); else an exit code for the group."""
    deadline = time.monotonic() + service.ready_timeout_s
    while service.ready is not None and not received:
        if child.poll() is not None:
            print(
                f"{service.name} exited ({child.returncode}) before it was ready.", file=sys.stderr
            )
            return child.returncode or 1
        if service.ready():
            break
        if time.monotonic() > deadline:
            print(
                f"{service.name} was not ready after {service.ready_timeout_s:.0f} s.",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.5)
    return 0


def _stop_all(children: list[subprocess.Popen], grace_s: float) -> None:
    """SIGINT every group (as Ctrl-C would), then SIGTERM, then SIGKILL what is left."""
    for child in children:
        if child.poll() is None:
            _signal_group(child.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    for child in children:
        # Nothing of a group may outlive its leader (run workers, the code server's loader).
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()
