"""Run a long-lived command as a child and stop it cleanly on any stop signal.

`dagster asset materialize` waiting on a pool slot ignores SIGTERM, and `dagster dev` started
from a script maps SIGTERM onto an ignored SIGINT; both stop on SIGINT (Ctrl-C). A process
manager, `timeout` or CI sends SIGTERM. So `make backfill` and `make dev` run their commands
through `supervise()`: the child gets its own process group, every stop signal this process
receives becomes a SIGINT to that group, and whatever is left after a grace period is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Long enough for Dagster to record the run's end and release its pool slots.
GRACE_S = 30.0


def supervise(command: Sequence[str], grace_s: float = GRACE_S) -> int:
    """Run `command` to the end and return its exit code; on a stop signal, interrupt it, wait
    up to `grace_s`, then kill its whole process group. Returns 128 + signal when stopped."""
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
