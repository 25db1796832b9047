"""What a set of asset definitions holds: each asset's key, documented columns and partitions.

For pieces that depend on particular assets (a project's own checks and charts): they ask here
whether what they read exists, instead of failing at run time on a missing table or column.
"""

from collections.abc import Iterable

import dagster as dg


def asset_specs(assets: Iterable) -> dict[dg.AssetKey, dg.AssetSpec]:
    return {
        spec.key: spec
        for assets_def in assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.specs
    }


def documented_columns(spec: dg.AssetSpec) -> frozenset[str]:
    """The columns in the asset's column schema (for dbt models: those their yml documents)."""
    schema = spec.metadata.get("dagster/column_schema")
    columns = schema.columns if isinstance(schema, dg.TableSchema) else ()
    return frozenset(column.name for column in columns)


def missing_assets(assets: Iterable, required: dict[dg.AssetKey, set[str]]) -> list[str]:
    """The assets (or their documented columns) of `required` that `assets` lack, as `key` or
    `key.column`: empty when every one is there."""
    specs = asset_specs(assets)
    missing = []
    for key, columns in required.items():
        if key not in specs:
            missing.append(key.to_user_string())
        else:
            absent = sorted(columns - documented_columns(specs[key]))
            missing.extend(f"{key.to_user_string()}.{column}" for column in absent)
    return missing


def is_time_partitioned(assets: Iterable, key: dg.AssetKey) -> bool:
    spec = asset_specs(assets).get(key)
    return spec is not None and isinstance(spec.partitions_def, dg.TimeWindowPartitionsDefinition)
