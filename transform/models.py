"""What the dbt project defines, as Dagster sees it: each model's asset key and columns.

For pieces that depend on particular models (a project's own checks and charts): they ask
here whether their models exist, instead of failing at run time on a missing table or column.
"""

from functools import cache

import dagster as dg


@cache
def dbt_model_columns() -> dict[dg.AssetKey, frozenset[str]]:
    """Every dbt model's key, with the columns its yml documents (empty if none are)."""
    from transform.assets import dbt_models

    models = {}
    for spec in dbt_models.specs:
        schema = spec.metadata.get("dagster/column_schema")
        columns = schema.columns if isinstance(schema, dg.TableSchema) else ()
        models[spec.key] = frozenset(column.name for column in columns)
    return models


def missing_models(required: dict[dg.AssetKey, set[str]]) -> list[str]:
    """The models (or their documented columns) of `required` that the dbt project lacks, as
    `key` or `key.column`: empty when every one is there."""
    present = dbt_model_columns()
    missing = []
    for key, columns in required.items():
        if key not in present:
            missing.append(key.to_user_string())
        else:
            missing.extend(
                f"{key.to_user_string()}.{column}" for column in sorted(columns - present[key])
            )
    return missing


def is_daily_partitioned(key: dg.AssetKey) -> bool:
    from transform.assets import dbt_models

    spec = dbt_models.specs_by_key.get(key)
    return spec is not None and spec.partitions_def is not None
