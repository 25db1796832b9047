"""The platform's executor: Dagster's in-process executor, plus a note of where each run runs.

DuckDB has one writer, so parallel steps buy nothing, and the in-process executor saves each
step the Python and dbt start-up a subprocess would pay (docs/benchmarks.md). Before it executes
a run's steps, it records the host and process as run tags, so that ending runs whose process
died (orchestration/recovery.py) only ever judges runs of its own machine: on an instance shared
by several machines, a run executing elsewhere is never mistaken for a dead one. On a SQLite
instance it also claims pool slots one process at a time (orchestration/pool_claims.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import dagster as dg

from orchestration.pool_claims import serialized_slot_claims

HOST_TAG = "trifecta/host"
PID_TAG = "trifecta/pid"


class _RecordingWhereItRuns(dg.Executor):
    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        plan_context.instance.add_run_tags(
            plan_context.run_id, {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
        )
        succeeded: set[str] = set()
        try:
            with serialized_slot_claims(plan_context.instance):
                for event in self._inner.execute(plan_context, execution_plan):
                    if event.is_step_success:
                        succeeded.add(event.step_key)
                    yield event
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            _cancel_interrupted_run(plan_context, execution_plan, succeeded)
            raise


def _cancel_interrupted_run(plan_context, execution_plan, succeeded: set[str]) -> None:
    """A stop signal (Ctrl-C, SIGTERM) ends the run CANCELED, as a stop from the UI does:
    marked canceling here, Dagster then records RUN_CANCELED instead of a failure that run
    retries would re-execute. The message names the steps that did not finish."""
    instance = plan_context.instance
    run = instance.get_run_by_id(plan_context.run_id)
    if run is None or run.status != dg.DagsterRunStatus.STARTED:
        return
    unfinished = [key for key in execution_plan.step_keys_to_execute if key not in succeeded]
    instance.report_run_canceling(
        run,
        message=(
            "Interrupted by a stop signal (Ctrl-C or SIGTERM); not retried. Steps that did not "
            f"finish: {', '.join(unfinished) or 'none'}."
        ),
    )


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema)
def in_process_recording_host(init_context: dg.InitExecutorContext) -> dg.Executor:
    return _RecordingWhereItRuns(dg.in_process_executor.executor_creation_fn(init_context))
