"""What a dbt step reports once dbt has exited: its materializations and check results as the
step's outputs, the days dbt built of a microbatch model whose other batches failed, each table's
row count, and which selected nodes have no result at all.

Apart from transform/invocation.py, which starts dbt and decides between `dbt build` and
`dbt retry`: these read dbt's events, run_results.json and the warehouse, and start nothing.
"""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg

from core.windows import partition_days
from transform.microbatch import batch_days
from transform.model_meta import ROW_COUNT_TABLE, ROWS_PER_DAY_COLUMN
from warehouse import Warehouse, read_only


def not_built(context: dg.AssetExecutionContext, events: list) -> list[str]:
    """The step's selected models and tests with no result in this attempt nor in an earlier
    attempt of this run: a step that reports success has built every one of them."""
    assets = set(context.selected_asset_keys)
    checks = set(context.selected_asset_check_keys)
    for event in events:
        if isinstance(event, dg.Output):
            assets.discard(context.asset_key_for_output(event.output_name))
        elif isinstance(event, dg.AssetCheckResult | dg.AssetCheckEvaluation):
            checks.discard(dg.AssetCheckKey(event.asset_key, event.check_name))
    if context.retry_number > 0 and (assets or checks):
        for record in context.instance.all_logs(
            context.run.run_id,
            of_type={
                dg.DagsterEventType.ASSET_MATERIALIZATION,
                dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            },
        ):
            data = record.dagster_event.event_specific_data
            if record.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                assets.discard(data.materialization.asset_key)
            else:
                checks.discard(dg.AssetCheckKey(data.asset_key, data.check_name))
    return sorted(
        [key.to_user_string() for key in assets]
        + [f"{key.asset_key.to_user_string()}:{key.name}" for key in checks]
    )


def batch_materializations(
    context: dg.AssetExecutionContext, events: list, target_path: Path
) -> list[dg.AssetMaterialization]:
    """The days dbt built of each microbatch model that failed some of its batches.

    A microbatch model whose every batch succeeded is one output of the step, materializing
    every day of the run. One with failed batches gets no output from dagster-dbt, so the
    days whose batch succeeded are recorded here one by one (from run_results.json's
    `batch_results`), and when the step then fails Dagster shows the others failed."""
    built = {
        context.asset_key_for_output(e.output_name) for e in events if isinstance(e, dg.Output)
    }
    keys = {
        spec.metadata.get("dagster_dbt/unique_id"): key
        for key, spec in context.assets_def.specs_by_key.items()
        if key in context.selected_asset_keys and spec.partitions_def is not None
    }
    try:
        results = json.loads((target_path / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    materializations = []
    for result in results:
        key = keys.get(result.get("unique_id"))
        if key is None or key in built or not result.get("batch_results"):
            continue
        succeeded, failed = batch_days(result)
        for day in succeeded:
            materializations.append(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=day.isoformat(),
                    metadata={"dbt batch": "built", "batches failed in the run": len(failed)},
                )
            )
        if failed:
            context.log.warning(
                f"{key.to_user_string()}: dbt built {len(succeeded)} day(s) and failed "
                f"{', '.join(day.isoformat() for day in failed)}."
            )
    return materializations


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
    """Add each built table's row count, and its rows per day in the window where the model
    declares a `rows_per_day_column`: which models, and which column, the translator put on
    their specs from their dbt `meta` (transform/model_meta.py).

    Counted after dbt exits: DuckDB lets no other process read while dbt writes.
    """
    specs = context.assets_def.specs_by_key
    counted = {}
    for event in events:
        if isinstance(event, dg.Output):
            metadata = specs[context.asset_key_for_output(event.output_name)].metadata
            if ROW_COUNT_TABLE in metadata:
                counted[event.output_name] = (
                    metadata[ROW_COUNT_TABLE],
                    metadata.get(ROWS_PER_DAY_COLUMN),
                )
    counts: dict[str, dict] = {}
    if counted:
        with read_only() as warehouse:
            for output_name, (table, day_column) in counted.items():
                counts[output_name] = _count(warehouse, table, window, day_column)
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in counts:
            yield event.with_metadata({**event.metadata, **counts[event.output_name]})
        else:
            yield event


def _count(warehouse: Warehouse, table: str, window, day_column: str | None = None) -> dict:
    schema, _, name = table.partition(".")
    # The names come from the dbt manifest, not from input; quoted all the same, as a table
    # name cannot be a query parameter.
    table = ".".join(_quoted(part) for part in table.split("."))
    (total,) = warehouse.execute(f"select count(*) from {table}").fetchone()
    metadata: dict = {"dagster/row_count": total}
    if window is None or day_column is None:
        return metadata
    columns = {
        row[0]
        for row in warehouse.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    if day_column not in columns:
        raise ValueError(
            f"{table} has no column {day_column!r}, which its dbt model declares as "
            "`meta: {dagster: {rows_per_day_column: ...}}`: name one of "
            f"{sorted(columns)}, or remove the declaration."
        )
    first_day, last_day = partition_days(window)
    day = _quoted(day_column)
    rows = warehouse.execute(
        f"select {day}, count(*) from {table} where {day} between ? and ? "
        f"group by {day} order by {day}",
        [first_day, last_day],
    ).fetchall()
    metadata["rows_per_day"] = dg.MetadataValue.json({d.isoformat(): n for d, n in rows})
    return metadata


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
