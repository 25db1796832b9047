"""One dbt step: `dbt build` for the step's models and window, `dbt retry` of only what failed
when Dagster retries the step, and a stop signal that ends it without a retry. What the step
reports once dbt has exited (outputs, row counts, a microbatch model's days) is
transform/step_results.py."""

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliInvocation
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

import settings
from core.interrupts import is_interrupt, noticing_interrupts
from core.step_retry import StepRetry, raise_for_retry
from core.windows import DBT_WINDOW_VARIABLES, dbt_window_env
from transform.microbatch import event_time_args
from transform.project import DBT_PROJECT_DIR, manifest_path
from transform.resource import DbtResource
from transform.step_results import (
    as_asset_events,
    batch_materializations,
    not_built,
    with_row_counts,
)

# What `make setup`'s `dbt parse` leaves: a new step folder starts from it, not from nothing.
PREPARED_PARSE = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"


def step_target_path(step_name: str) -> Path:
    """The step's dbt target folder, one per warehouse and step, beside the warehouse like
    dlt's (`data/warehouse.dbt/<step>/`), instead of dagster-dbt's new folder per run: nothing
    piles up, the step's last run_results.json is there for `dbt retry`, dbt's partial parse
    carries over from run to run, and two warehouses (two checkouts, two test runs) never
    share one."""
    config = settings.load()
    if config.postgres is not None:
        pg = config.postgres
        warehouse_dir = config.duckdb_path.parent / f"postgres-{pg.host}-{pg.port}-{pg.database}"
    else:
        warehouse_dir = config.duckdb_path.parent / config.duckdb_path.stem
    return warehouse_dir.with_name(warehouse_dir.name + ".dbt") / step_name


@contextlib.contextmanager
def _step_folder(target_path: Path) -> Iterator[None]:
    """Hold the step's folder for one dbt invocation. On DuckDB the warehouse pool already lets
    one dbt run at a time; on Postgres, where runs overlap, two runs of the same step take turns
    here instead of writing one folder at once (other steps still run side by side)."""
    target_path.mkdir(parents=True, exist_ok=True)
    if PREPARED_PARSE.exists() and not (target_path / PREPARED_PARSE.name).exists():
        shutil.copy(PREPARED_PARSE, target_path / PREPARED_PARSE.name)
    with (target_path / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _window_env(window: dg.TimeWindow | None) -> Iterator[None]:
    """dbt's window in this process's environment while dagster-dbt starts dbt (which copies
    the environment), then the environment as it was; steps run one at a time in a run."""
    values = dbt_window_env(window)
    saved = {name: os.environ.get(name) for name in DBT_WINDOW_VARIABLES}
    for name in saved:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_step_retry() -> StepRetry:
    """dbt failures are rarely transient (SQL, contracts, tests): one retry covers a locked
    warehouse file or a dbt process that crashed, after STEP_RETRY_DELAY_S."""
    return StepRetry(max_retries=1, base_delay_s=settings.load().step_retry_delay_s)


def run_dbt_build(
    context: dg.AssetExecutionContext, dbt: DbtResource, window: dg.TimeWindow | None
) -> Iterator:
    """`dbt build` for the step; on Dagster's retry of the step, `dbt retry` instead, which
    reruns only the nodes that failed or were skipped, when the previous attempt's results
    are complete (else `dbt build` again).

    A stop signal ends the step as interrupted, after reporting what dbt finished, and is
    never retried; a failure is retried per `dbt_step_retry()`; and the step succeeds only
    if every selected model and test has a result in this run (`not_built`,
    transform/step_results.py)."""
    target_path = step_target_path(context.op_execution_context.op.name)
    events, failure = [], None
    invocation = dbt_process = None
    with _step_folder(target_path), noticing_interrupts(lambda: dbt_process) as interrupted:
        try:
            with _window_env(window):
                invocation, retrying = _start_dbt(context, dbt, target_path, window)
                dbt_process = invocation.process
                stream = invocation.stream()
            events.extend(as_asset_events(context, stream) if retrying else stream)
        except BaseException as error:  # report what was built before re-raising dbt's error
            failure = error
        if invocation is not None:
            _end_invocation(target_path, invocation, interrupted=interrupted())
            events.extend(batch_materializations(context, events, target_path))
    yield from with_row_counts(context, events, window)
    if interrupted() or (failure is not None and is_interrupt(failure)):
        context.log.warning(
            "dbt was interrupted by a stop signal: the step ends here, without a retry; "
            "the models it did not finish are not reported as built."
        )
        raise dg.DagsterExecutionInterruptedError()
    if failure is not None:
        raise_for_retry(context, failure, dbt_step_retry())
    missing = not_built(context, events)
    if missing:
        raise dg.Failure(
            description=(
                f"dbt exited without a result for {len(missing)} selected node(s) of this "
                f"step: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}. "
                "They are not reported as built; re-run the step."
            )
        )


def _start_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtResource,
    target_path: Path,
    window: dg.TimeWindow | None,
) -> tuple[DbtCliInvocation, bool]:
    """The dbt invocation, and whether it is `dbt retry`: that when this is a retry and the
    previous attempt left complete results of this run and window; else a new `dbt build`
    of the step's whole selection."""
    dbt_window = dbt_window_env(window)
    if context.retry_number > 0:
        previous = _previous_attempt(target_path, context.run.run_id, dbt_window)
        if previous == "complete":
            context.log.info(f"Retry {context.retry_number}: `dbt retry` reruns only what failed.")
            # Without `context`: dagster-dbt would append the step's whole selection, which
            # dbt retry does not take. Its events are then the op kind, turned back into asset
            # events by the caller.
            retry = dbt.cli(
                ["retry"],
                manifest=manifest_path(),
                dagster_dbt_translator=step_translator(context),
                target_path=target_path,
            )
            return retry, True
        context.log.info(
            f"Retry {context.retry_number}: the failed attempt left {previous} dbt results, "
            "so the step's whole selection is built again."
        )
    _start_invocation(target_path, context.run.run_id, dbt_window)
    # The run's days are the microbatch models' batches (transform/microbatch.py).
    build = ["build", *event_time_args(window)]
    return dbt.cli(build, context=context, target_path=target_path), False


# Which run and partition window the step's target folder last started dbt for, and whether
# that invocation ended with complete results.
INVOCATION_FILE = "dagster_invocation.json"
# dbt's exit codes when it ran to its end: 0 all passed, 1 some node failed. Anything else
# (2: crashed or interrupted, a negative code: killed) leaves results that list only the
# nodes that finished, which `dbt retry` would take for the whole step.
COMPLETE_EXIT_CODES = (0, 1)


def _start_invocation(target_path: Path, run_id: str, dbt_window: dict) -> None:
    """Forget the previous invocation's results before `dbt build`: if this attempt fails
    before dbt writes its own, a retry must not replay another run's (another window's)."""
    (target_path / "run_results.json").unlink(missing_ok=True)
    (target_path / INVOCATION_FILE).write_text(json.dumps({"run_id": run_id, "window": dbt_window}))


def _end_invocation(target_path: Path, invocation: DbtCliInvocation, *, interrupted: bool) -> None:
    """Record whether dbt ran to its end, so that a retry knows if `dbt retry` can be trusted."""
    path = target_path / INVOCATION_FILE
    try:
        started = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    code = invocation.process.wait()
    started["complete"] = code in COMPLETE_EXIT_CODES and not interrupted
    started["exit_code"] = code
    path.write_text(json.dumps(started))


def _previous_attempt(target_path: Path, run_id: str, dbt_window: dict) -> str:
    """'complete' when the step's run_results.json was written by this run, for this window,
    by a dbt that ran to its end: only then is `dbt retry` a retry of this step's previous
    attempt. Otherwise a word for what it is ('no', 'another run's', 'partial')."""
    try:
        started = json.loads((target_path / INVOCATION_FILE).read_text())
        (target_path / "run_results.json").stat()
    except (OSError, ValueError):
        return "no"
    if started.get("run_id") != run_id or started.get("window") != dbt_window:
        return "another run's"
    if not started.get("complete"):
        return f"partial (dbt exit code {started.get('exit_code')})"
    return "complete"


def step_translator(context: dg.AssetExecutionContext):
    """The translator the step's `@dbt_assets` was built with (its sources resolved)."""
    return get_manifest_and_translator_from_dbt_assets([context.assets_def])[1]
