"""One dbt step: `dbt build` for the step's models, a rebuild of only what failed when Dagster
retries the step, and row counts on every mart it built."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

import settings
from orchestration.windows import dbt_build_args, partition_days
from transform.project import DBT_PROJECT_DIR
from transform.resource import DbtResource

# One fixed target folder per step instead of dagster-dbt's new folder per run: nothing piles
# up, the step's last run_results.json is there for a retry, and an unpartitioned step keeps
# dbt's partial parse. The `duckdb` pool (one slot) means one dbt process at a time.
TARGET_ROOT = DBT_PROJECT_DIR / "target" / "dagster"

# On a retry, rebuild what failed or was skipped last time, and everything downstream of it.
RETRY_SELECTION = "result:error+ result:fail+ result:skipped+"


def step_target_path(step_name: str) -> Path:
    return TARGET_ROOT / step_name


def _previous_attempt_state(target_path: Path) -> Path | None:
    """Keep the failed attempt's artifacts as dbt `--state` for the retry."""
    if not (target_path / "run_results.json").exists():
        return None
    state = target_path.parent / f"{target_path.name}-previous-attempt"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    for artifact in ("run_results.json", "manifest.json"):
        shutil.copy2(target_path / artifact, state / artifact)
    return state


def run_dbt_build(
    context: dg.AssetExecutionContext, dbt: DbtResource, window: dg.TimeWindow | None
) -> Iterator:
    target_path = step_target_path(context.op_execution_context.op.name)
    args = dbt_build_args(window)
    if context.retry_number > 0 and (state := _previous_attempt_state(target_path)):
        context.log.info(f"Retry {context.retry_number}: rebuilding only what failed last time.")
        args += ["--select", RETRY_SELECTION, "--state", str(state)]
    invocation = dbt.cli(args, context=context, target_path=target_path)
    events, failure = [], None
    try:
        events.extend(invocation.stream())
    except Exception as error:  # report what was built before re-raising dbt's error
        failure = error
    yield from with_row_counts(context, events, window)
    if failure is not None:
        raise failure


def with_row_counts(
    context: dg.AssetExecutionContext, events: list, window: dg.TimeWindow | None
) -> Iterator:
    """Add each built mart's row count (and rows per day in the window for partitioned ones).

    Counted after dbt exits: DuckDB lets no other process read while dbt writes.
    """
    tables = {
        event.output_name: ".".join(context.asset_key_for_output(event.output_name).path)
        for event in events
        if isinstance(event, dg.Output)
    }
    marts = {name: table for name, table in tables.items() if table.startswith("marts.")}
    counts: dict[str, dict] = {}
    if marts:
        with duckdb.connect(str(settings.load().duckdb_path), read_only=True) as warehouse:
            for output_name, table in marts.items():
                counts[output_name] = _count(warehouse, table, window)
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in counts:
            yield event.with_metadata({**event.metadata, **counts[event.output_name]})
        else:
            yield event


def _count(warehouse: duckdb.DuckDBPyConnection, table: str, window) -> dict:
    (total,) = warehouse.execute(f"select count(*) from {table}").fetchone()
    metadata: dict = {"dagster/row_count": total}
    columns = {row[0] for row in warehouse.execute(f"describe {table}").fetchall()}
    if window is not None and "order_date" in columns:
        first_day, last_day = partition_days(window)
        rows = warehouse.execute(
            f"select order_date, count(*) from {table} where order_date between ? and ? "
            "group by order_date order by order_date",
            [first_day, last_day],
        ).fetchall()
        metadata["rows_per_day"] = dg.MetadataValue.json({d.isoformat(): n for d, n in rows})
    return metadata
