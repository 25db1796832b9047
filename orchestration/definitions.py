"""The one `Definitions` of the platform: a table of contents, no logic.

`dagster dev` (see `[tool.dagster]` in pyproject.toml), `workspace.yaml` and
`dagster asset materialize -m orchestration.definitions` all load this module.
"""

import dagster as dg

# First: the imports below are what raise the warnings it silences.
import orchestration.library_warnings  # noqa: F401

# isort: split
from ingestion.api_source import jaffle_shop_api
from ingestion.assets import raw_orders, raw_reference
from orchestration.alerts import alert_sensors
from orchestration.checks.freshness import partition_freshness_checks, partition_freshness_sensor
from orchestration.checks.raw_orders import raw_orders_partition_checks
from orchestration.checks.schema_drift import raw_schema_unchanged
from orchestration.executor import in_process_recording_host
from orchestration.extensions import extra_definitions
from orchestration.recovery import reclaim_dead_runs_sensor
from orchestration.resources import build_resources
from orchestration.schedules import (
    daily_refresh_job,
    daily_refresh_schedule,
    observe_api_job,
    observe_api_schedule,
)
from transform.assets import build_dbt_models

# Each dbt source is the dlt asset that loads its table (transform/loaded_tables.py).
dbt_models = build_dbt_models(loaders=[raw_orders, raw_reference])

assets = [
    jaffle_shop_api,
    raw_orders,
    raw_reference,
    dbt_models,
]
freshness_checks = partition_freshness_checks(assets)

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=assets,
        asset_checks=[raw_orders_partition_checks, raw_schema_unchanged, *freshness_checks],
        jobs=[daily_refresh_job, observe_api_job],
        schedules=[daily_refresh_schedule, observe_api_schedule],
        sensors=[
            *alert_sensors,
            *partition_freshness_sensor(freshness_checks),
            reclaim_dead_runs_sensor,
        ],
        resources=build_resources(),
        # One process per run, recording where it runs (orchestration/executor.py).
        executor=in_process_recording_host,
    ),
    # The project's own pieces (the example's checks and chart): orchestration/extensions.py.
    *extra_definitions(assets),
)
