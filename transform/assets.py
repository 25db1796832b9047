"""The dbt models as two `@dbt_assets`: the daily-partitioned ones and the rest.

Partitioned models (tag `partitioned`) are built for the partition's days through the
`min_date`/`max_date` vars; the others are rebuilt whole. They are two definitions because a
Dagster asset definition has one partitioning.
"""

from collections.abc import Iterator

import dagster as dg
from dagster_dbt import dbt_assets

from core.partitions import daily_partitions
from core.policies import DBT_RETRY
from core.pools import WAREHOUSE_POOL
from transform.invocation import TRANSLATOR, run_dbt_build
from transform.project import manifest_path
from transform.resource import DbtResource

PARTITIONED_MODELS = "tag:partitioned"


@dbt_assets(
    manifest=manifest_path(),
    select=PARTITIONED_MODELS,
    name="dbt_daily_models",
    partitions_def=daily_partitions,
    dagster_dbt_translator=TRANSLATOR,
    retry_policy=DBT_RETRY,
    pool=WAREHOUSE_POOL,
)
def dbt_daily_models(context: dg.AssetExecutionContext, dbt: DbtResource) -> Iterator:
    yield from run_dbt_build(context, dbt, context.partition_time_window)


@dbt_assets(
    manifest=manifest_path(),
    exclude=PARTITIONED_MODELS,
    name="dbt_models",
    dagster_dbt_translator=TRANSLATOR,
    # Unpartitioned, but single-run so it can join a `--partition-range` run of everything.
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=DBT_RETRY,
    pool=WAREHOUSE_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtResource) -> Iterator:
    yield from run_dbt_build(context, dbt, None)
