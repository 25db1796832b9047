"""Tell a stop signal (Ctrl-C, SIGTERM) apart from a failure, inside a step and for the run.

Two things in the stack lose interrupts. Dagster turns an interrupt inside a step into a retry
whenever the step has a retry policy (`dagster/_core/execution/plan/utils.py`, "respect retry
policy when interrupts occur"), so a stopped backfill used to rebuild and report success; and
dagster-dbt's event loop parses each dbt line under a bare `except:`, which can swallow the
interrupt Dagster raises there, leaving only "dbt exited non-zero", an ordinary failure.

So the platform's steps take no Dagster retry policy (core/step_retry.py raises
`RetryRequested` for failures only), and `noticing_interrupts()` records a stop signal that
arrives while a step waits on a subprocess, lets the subprocess stop and report, and the step
raises the interrupt once that subprocess is gone.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator

import dagster as dg

# Dagster maps SIGTERM onto its SIGINT handler in run processes; both are stops.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# How long a subprocess that got the stop signal with us (same process group: Ctrl-C, a
# supervisor's signal) has to stop on its own before it is sent one.
CHILD_GRACE_S = 5.0


@contextlib.contextmanager
def noticing_interrupts(
    child: Callable[[], subprocess.Popen | None] = lambda: None,
) -> Iterator[Callable[[], bool]]:
    """Within the block, remember a stop signal even if code on the way swallows it; yields a
    function that says whether one arrived.

    With no running `child`, a stop signal raises `DagsterExecutionInterruptedError`, as
    Dagster's own handler does. With one (dbt), the first stop signal raises nothing: the
    child stops and reports what it finished, which the step still reads; it is sent SIGINT
    if it has not stopped after `CHILD_GRACE_S` (it got no signal of its own). A second stop
    signal raises. Outside the main thread (where signal handlers cannot be set) it notices
    nothing and changes nothing."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def on_stop(signum: int, _frame) -> None:
        received.append(signum)
        process = child()
        if len(received) > 1 or process is None or process.poll() is not None:
            raise dg.DagsterExecutionInterruptedError()
        timer = threading.Timer(CHILD_GRACE_S, _interrupt, args=(process,))
        timer.daemon = True
        timer.start()

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop)
    try:
        yield lambda: bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)


def is_interrupt(error: BaseException) -> bool:
    return isinstance(error, KeyboardInterrupt | dg.DagsterExecutionInterruptedError)
