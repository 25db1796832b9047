"""End runs whose process died, and give back the pool slots they held.

A run killed with SIGKILL (a closed laptop, an OOM kill, a CI timeout) never records its end: it
stays STARTED in the instance and keeps its claim on the `duckdb` pool's only slot, so every
later run waits forever ("Step blocked by limit for pool duckdb"). Dagster's run monitoring frees
the slots of runs that *ended*, and ends runs whose worker its run launcher can health-check; a
run started by `dagster asset materialize` has no launcher, and the default launcher has no
health check. So the platform checks the one thing every run here records: the host and the
process that execute its steps (run tags written by orchestration/executor.py). A run of this
machine whose process is gone is marked failed (which alerts) and its slots are freed; runs of
other machines are never judged.

`make backfill` runs the check before it launches, and the `reclaim_dead_runs` sensor every
minute wherever the code location runs, so the daily schedule cannot wedge either.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from orchestration.executor import HOST_TAG, PID_TAG

_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class ReclaimedRun:
    run_id: str
    pid: int


def run_process_id(run: dg.DagsterRun, host: str | None = None) -> int | None:
    """The pid of the process executing the run's steps, if that process is on `host` (this
    machine by default); None for runs of other machines or runs that recorded none."""
    if run.tags.get(HOST_TAG) != (host or socket.gethostname()):
        return None
    try:
        return int(run.tags[PID_TAG])
    except (KeyError, ValueError):
        return None


def process_is_alive(pid: int, started_after: float | None = None) -> bool:
    """Whether `pid` is a live process, and (where /proc tells) not a newer one reusing the pid
    of a process that started before `started_after` (a Unix timestamp)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    if started_after is not None:
        started = _process_start_time(pid)
        if started is not None and started > started_after + 5:
            return False  # the pid was reused after the run's process died
    return _not_a_zombie(pid)


def reclaim_dead_runs(
    instance: dg.DagsterInstance,
    log: Callable[[str], None] = print,
    is_alive: Callable[[int, float | None], bool] = process_is_alive,
) -> list[ReclaimedRun]:
    """Mark every unfinished run whose process is gone as failed and free its pool slots."""
    reclaimed = []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=_UNFINISHED))
    for record in records:
        run = record.dagster_run
        pid = run_process_id(run)
        if pid is None or is_alive(pid, record.start_time):
            continue
        message = (
            f"The process of run {run.run_id} (pid {pid}) is gone: it was killed or crashed "
            "without recording its end. Marking the run failed and freeing its pool slots."
        )
        log(message)
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reclaimed.append(ReclaimedRun(run.run_id, pid))
    return reclaimed


@dg.sensor(
    name="reclaim_dead_runs",
    description="Ends runs whose process died (e.g. a killed `make backfill`) and frees the pool "
    "slots they held, so no later run waits forever.",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def reclaim_dead_runs_sensor(context: dg.SensorEvaluationContext):
    reclaimed = reclaim_dead_runs(context.instance, context.log.warning)
    if not reclaimed:
        return dg.SkipReason("Every unfinished run has a live process.")
    ids = ", ".join(run.run_id for run in reclaimed)
    return dg.SkipReason(f"Ended {len(reclaimed)} dead run(s) and freed their slots: {ids}.")


def _process_start_time(pid: int) -> float | None:
    """Unix time the process started, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    # Field 22 (starttime, in clock ticks since boot) counts from after the ")" of the name.
    fields = stat.rsplit(")", 1)[1].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _not_a_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: os.kill said it exists
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
