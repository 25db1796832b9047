"""The one `Definitions` of the platform: a table of contents, no logic.

`dagster dev` (see `[tool.dagster]` in pyproject.toml), `workspace.yaml` and
`dagster asset materialize -m orchestration.definitions` all load this module.
"""

import dagster as dg

from ingestion.api_source import jaffle_shop_api
from ingestion.assets import raw_orders, raw_reference
from orchestration.alerts import alert_sensors
from orchestration.checks.freshness import daily_mart_freshness_checks, freshness_checks_sensor
from orchestration.checks.raw_orders import raw_orders_partition_checks
from orchestration.checks.reconciliation import orders_reconcile_with_raw
from orchestration.checks.schema_drift import raw_schema_unchanged
from orchestration.dashboard import daily_revenue_chart
from orchestration.executor import in_process_recording_host
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

defs = dg.Definitions(
    assets=[
        jaffle_shop_api,
        raw_orders,
        raw_reference,
        dbt_models,
        daily_revenue_chart,
    ],
    asset_checks=[
        raw_orders_partition_checks,
        orders_reconcile_with_raw,
        raw_schema_unchanged,
        *daily_mart_freshness_checks,
    ],
    jobs=[daily_refresh_job, observe_api_job],
    schedules=[daily_refresh_schedule, observe_api_schedule],
    sensors=[*alert_sensors, freshness_checks_sensor, reclaim_dead_runs_sensor],
    resources=build_resources(),
    # One process per run, recording where it runs (orchestration/executor.py).
    executor=in_process_recording_host,
)
