"""One dbt step: `dbt build` for the step's models, `dbt retry` of only what failed when
Dagster retries the step, and row counts on every mart it built."""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg

from core.windows import dbt_build_args, partition_days, partition_vars
from transform.project import DBT_PROJECT_DIR, manifest_path
from transform.resource import DbtResource
from transform.translator import WarehouseTranslator
from warehouse import Warehouse, read_only

# One fixed target folder per step instead of dagster-dbt's new folder per run: nothing piles
# up, the step's last run_results.json is there for `dbt retry`, and an unpartitioned step
# keeps dbt's partial parse. The `duckdb` pool (one slot) means one dbt process at a time.
TARGET_ROOT = DBT_PROJECT_DIR / "target" / "dagster"
TRANSLATOR = WarehouseTranslator()


def step_target_path(step_name: str) -> Path:
    return TARGET_ROOT / step_name


def run_dbt_build(
    context: dg.AssetExecutionContext, dbt: DbtResource, window: dg.TimeWindow | None
) -> Iterator:
    """`dbt build` for the step; on Dagster's retry of the step, `dbt retry` instead, which
    reruns only the nodes that failed or were skipped in the previous attempt."""
    target_path = step_target_path(context.op_execution_context.op.name)
    dbt_vars = partition_vars(window) if window is not None else {}
    if context.retry_number > 0 and _results_of_this_run(target_path, context.run_id, dbt_vars):
        context.log.info(f"Retry {context.retry_number}: `dbt retry` reruns only what failed.")
        # Without `context`: dagster-dbt would append the step's whole selection, which dbt
        # retry does not take. Its events are then the op kind, turned back into asset events.
        invocation = dbt.cli(
            ["retry"],
            manifest=manifest_path(),
            dagster_dbt_translator=TRANSLATOR,
            target_path=target_path,
        )
        stream = as_asset_events(context, invocation.stream())
    else:
        if context.retry_number > 0:
            context.log.info(
                f"Retry {context.retry_number}: the failed attempt left no dbt results of its "
                "own, so the whole step is built again."
            )
        _start_invocation(target_path, context.run_id, dbt_vars)
        invocation = dbt.cli(dbt_build_args(window), context=context, target_path=target_path)
        stream = invocation.stream()
    events, failure = [], None
    try:
        events.extend(stream)
    except Exception as error:  # report what was built before re-raising dbt's error
        failure = error
    yield from with_row_counts(context, events, window)
    if failure is not None:
        raise failure


# Which run, and which partition window, the step's target folder last started dbt for.
INVOCATION_FILE = "dagster_invocation.json"


def _start_invocation(target_path: Path, run_id: str, dbt_vars: dict) -> None:
    """Forget the previous invocation's results before `dbt build`: if this attempt fails
    before dbt writes its own, a retry must not replay another run's (another window's)."""
    target_path.mkdir(parents=True, exist_ok=True)
    (target_path / "run_results.json").unlink(missing_ok=True)
    (target_path / INVOCATION_FILE).write_text(json.dumps({"run_id": run_id, "vars": dbt_vars}))


def _results_of_this_run(target_path: Path, run_id: str, dbt_vars: dict) -> bool:
    """Whether the step's run_results.json was written by this run, for these vars: only then
    is `dbt retry` a retry of this step's previous attempt."""
    try:
        started = json.loads((target_path / INVOCATION_FILE).read_text())
        results = json.loads((target_path / "run_results.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        started == {"run_id": run_id, "vars": dbt_vars}
        and (results.get("args", {}).get("vars") or {}) == dbt_vars
    )


def as_asset_events(context: dg.AssetExecutionContext, events: Iterable) -> Iterator:
    """Materializations and check evaluations of this step's assets as the step's outputs."""
    own_keys = context.selected_asset_keys
    for event in events:
        if isinstance(event, dg.AssetMaterialization) and event.asset_key in own_keys:
            yield dg.Output(
                None,
                output_name=context.assets_def.get_output_name_for_asset_key(event.asset_key),
                metadata=event.metadata,
            )
        elif isinstance(event, dg.AssetCheckEvaluation):
            yield dg.AssetCheckResult(
                asset_key=event.asset_key,
                check_name=event.check_name,
                passed=event.passed,
                severity=event.severity,
                metadata=event.metadata,
            )
        else:
            yield event


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
        with read_only() as warehouse:
            for output_name, table in marts.items():
                counts[output_name] = _count(warehouse, table, window)
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in counts:
            yield event.with_metadata({**event.metadata, **counts[event.output_name]})
        else:
            yield event


def _count(warehouse: Warehouse, table: str, window) -> dict:
    schema, name = table.split(".")
    # The name comes from the dbt manifest, not from input; quoted all the same, as a table
    # name cannot be a query parameter.
    table = ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))
    (total,) = warehouse.execute(f"select count(*) from {table}").fetchone()
    metadata: dict = {"dagster/row_count": total}
    columns = {
        row[0]
        for row in warehouse.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    if window is not None and "order_date" in columns:
        first_day, last_day = partition_days(window)
        rows = warehouse.execute(
            f"select order_date, count(*) from {table} where order_date between ? and ? "
            "group by order_date order by order_date",
            [first_day, last_day],
        ).fetchall()
        metadata["rows_per_day"] = dg.MetadataValue.json({d.isoformat(): n for d, n in rows})
    return metadata
