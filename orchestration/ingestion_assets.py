"""dlt assets: the API's orders per daily partition, and its reference data whole.

Keys are `raw/<table>`, the same keys the dbt sources get, so the lineage runs unbroken from
the API through dlt into dbt.
"""

import functools

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

import settings
from ingestion.pipeline import LOADER_FILE_FORMAT, make_pipeline
from ingestion.reachability import ensure_api_reachable
from ingestion.source import ORDERS, REFERENCE_RESOURCES, jaffle_shop_source
from orchestration.partitions import daily_partitions
from orchestration.pools import DUCKDB_POOL
from orchestration.windows import partition_days


class RawTableTranslator(DagsterDltTranslator):
    """`raw/<resource>` keys in the `raw` group, matching the dbt sources."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey(["raw", data.resource.name]), group_name="raw", deps=[]
        )


def _pipeline(name: str):
    return _cached_pipeline(name, settings.load().duckdb_path)


@functools.cache
def _cached_pipeline(name: str, duckdb_path):
    # dlt.pipeline() only records a name and a destination; nothing is opened or fetched.
    return make_pipeline(name, duckdb_path)


def _source(resources: tuple[str, ...], first_day=None, last_day=None):
    config = settings.load()
    first_day = first_day or config.first_partition_date
    return jaffle_shop_source(
        config.jaffle_api_url,
        first_day,
        last_day or first_day,
        page_size=config.api_page_size,
        resources=resources,
    )


@dlt_assets(
    dlt_source=_source((ORDERS,)),
    dlt_pipeline=_pipeline("jaffle_shop_orders"),
    name="raw_orders",
    partitions_def=daily_partitions,
    dagster_dlt_translator=RawTableTranslator(),
    pool=DUCKDB_POOL,
)
def raw_orders(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
    """Orders (and their `orders__items`) placed in the partition's days, merged on `id`."""
    first_day, last_day = partition_days(context.partition_time_window)
    ensure_api_reachable(settings.load().jaffle_api_url)
    yield from dlt.run(
        context=context,
        dlt_source=_source((ORDERS,), first_day, last_day),
        dlt_pipeline=_pipeline("jaffle_shop_orders"),
        loader_file_format=LOADER_FILE_FORMAT,
    )


@dlt_assets(
    dlt_source=_source(REFERENCE_RESOURCES),
    dlt_pipeline=_pipeline("jaffle_shop_reference"),
    name="raw_reference",
    dagster_dlt_translator=RawTableTranslator(),
    # Unpartitioned, but single-run so it can join a `--partition-range` run of everything.
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def raw_reference(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
    """Customers, products, stores and supplies: small, so fetched whole on every run."""
    ensure_api_reachable(settings.load().jaffle_api_url)
    yield from dlt.run(
        context=context,
        dlt_source=_source(REFERENCE_RESOURCES),
        dlt_pipeline=_pipeline("jaffle_shop_reference"),
        loader_file_format=LOADER_FILE_FORMAT,
    )
