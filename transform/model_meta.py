"""What a dbt model declares for Dagster, read in one place: `meta.dagster` on the model, or on a
folder of models with `+meta` in dbt_project.yml (README, "Bring your own dbt project").

- `freshness: {fail_after_hours: 26, warn_after_hours: 24.5}`: a `FreshnessPolicy`
  (`core/policies.py`).
- `row_count: false`: no row count. Models dbt writes as tables (table, incremental,
  snapshot, seed) get their `dagster/row_count` after each build by default; views and
  ephemeral models never, since counting a view runs its query.
- `rows_per_day_column: <date column>`: also the rows per day of the run's window.

The declarations travel to the run on the asset's spec (the two `trifecta/` entries below).
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from core.policies import freshness_policy

# Spec metadata read by the dbt step after dbt exits (`transform/step_results.py`).
ROW_COUNT_TABLE = "trifecta/row_count_table"
ROWS_PER_DAY_COLUMN = "trifecta/rows_per_day_column"
TABLE_MATERIALIZATIONS = {"table", "incremental", "snapshot", "seed"}


def dagster_meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The node's `meta.dagster`, where dbt puts it (config first, as dagster-dbt reads it)."""
    meta = props.get("config", {}).get("meta", {}) or props.get("meta", {})
    return meta.get("dagster", {}) or {}


def apply_declarations(spec: dg.AssetSpec, node: Mapping[str, Any]) -> dg.AssetSpec:
    declared = dagster_meta(node)
    where = f"{node['original_file_path']} (meta.dagster)"
    if declared.get("freshness") is not None:
        spec = dg.apply_freshness_policy(spec, freshness_policy(declared["freshness"], where))
    materialized = node.get("config", {}).get("materialized") or node["resource_type"]
    if materialized not in TABLE_MATERIALIZATIONS or declared.get("row_count", True) is False:
        return spec
    metadata = {ROW_COUNT_TABLE: f"{node['schema']}.{node.get('alias') or node['name']}"}
    column = declared.get("rows_per_day_column")
    if column is not None:
        if not isinstance(column, str) or not column:
            raise ValueError(
                f"{where}: rows_per_day_column must name a date column of the model, "
                f"not {column!r}."
            )
        metadata[ROWS_PER_DAY_COLUMN] = column
    return spec.merge_attributes(metadata=metadata)
