"""The one `Definitions` of the platform: a table of contents, no logic.

`dagster dev` (see `[tool.dagster]` in pyproject.toml), `workspace.yaml` and
`dagster asset materialize -m orchestration.definitions` all load this module.
"""

import dagster as dg

from orchestration.ingestion_assets import raw_orders, raw_reference
from orchestration.resources import build_resources
from transform.assets import dbt_daily_models, dbt_models

defs = dg.Definitions(
    assets=[raw_orders, raw_reference, dbt_daily_models, dbt_models],
    resources=build_resources(),
    # DuckDB has one writer, so parallel steps buy nothing here; one process per run avoids
    # paying Python and dbt start-up in every step (docs/benchmarks.md).
    executor=dg.in_process_executor,
)
