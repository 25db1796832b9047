"""Every dbt model as one `@dbt_assets`: one dbt process per run.

The models tagged `partitioned` (the daily marts and the staging views of orders) carry the
daily partitions, set per model by the translator; the others are whole. A run of a partition
range builds the partitioned models for its window (`DBT_MIN_DATE`/`DBT_MAX_DATE`) and
rebuilds the whole ones once, in the same `dbt build`: one start-up and one parse instead of
one per partitioning.

Built from the assets that load the warehouse (`orchestration/definitions.py` passes the dlt
assets): each dbt source becomes the asset that loads its table.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
from dagster_dbt import dbt_assets

from core.pools import WAREHOUSE_POOL
from transform.invocation import run_dbt_build
from transform.loaded_tables import loaded_tables
from transform.project import manifest_path
from transform.resource import DbtResource
from transform.translator import WarehouseTranslator


def build_dbt_models(loaders: Sequence[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    """The dbt project's models, their sources resolved to the dlt assets among `loaders`."""
    translator = WarehouseTranslator(lambda: loaded_tables(loaders))

    @dbt_assets(
        manifest=manifest_path(),
        name="dbt_models",
        dagster_dbt_translator=translator,
        # One run for a whole range, whatever its length: dbt builds the window in one go.
        backfill_policy=dg.BackfillPolicy.single_run(),
        # No retry_policy: the step retries failures itself, never a stop signal
        # (core/step_retry.py).
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtResource) -> Iterator:
        yield from run_dbt_build(context, dbt, partition_window(context))

    return dbt_models


def partition_window(context: dg.AssetExecutionContext) -> dg.TimeWindow | None:
    """The run's days, or None when it builds no partition (whole models alone, for instance):
    the partitioned models then default to every day."""
    if context.has_partition_key or context.has_partition_key_range:
        return context.partition_time_window
    return None
