"""dlt assets: the API's orders per daily partition, and its reference data whole.

Keys are `raw/<table>`, the same keys the dbt sources get, so the lineage runs unbroken from
the API through dlt into dbt. The assets are plain multi-assets built from dagster-dlt's
specs, because `@dlt_assets` takes no retry policy; `@ingestion_retry` retries their errors
(core/policies.py), and leaves interrupts alone.
"""

import functools

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

import settings
from core.memory import release_freed_memory
from core.partitions import daily_partitions
from core.policies import ingestion_retry
from core.pools import WAREHOUSE_POOL
from core.windows import partition_days
from ingestion.api_source import JAFFLE_SHOP_API
from ingestion.dead_letter import rejected_counts
from ingestion.pipeline import RAW_DATASET, loader_file_format, make_pipeline
from ingestion.reachability import ensure_api_reachable
from ingestion.source import (
    ORDERS,
    REFERENCE_RESOURCES,
    jaffle_shop_source,
    rejected_share_error,
)
from warehouse import read_only

RAW_ORDERS = dg.AssetKey(["raw", ORDERS])


class RawTableTranslator(DagsterDltTranslator):
    """`raw/<resource>` keys in the `raw` group, downstream of the API source."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey(["raw", data.resource.name]),
            group_name="raw",
            deps=[JAFFLE_SHOP_API],
            # Named here because the specs are built without a pipeline (see `_specs`).
            kinds={"dlt", settings.load().warehouse},
            # The table it loads, with its dataset: dbt sources find their asset by it.
            metadata={**spec.metadata, "dagster/table_name": f"{RAW_DATASET}.{data.resource.name}"},
        )


TRANSLATOR = RawTableTranslator()


def _specs(resources: tuple[str, ...]) -> list[dg.AssetSpec]:
    """Asset specs from the source's resources alone: no dlt pipeline is made at import (it
    resolves dlt's configuration and destination, ~0.4 s); the run makes its own."""
    return build_dlt_asset_specs(_source(resources), None, TRANSLATOR)


def _pipeline(name: str):
    config = settings.load()
    return _cached_pipeline(name, config.duckdb_path, config.postgres)


@functools.cache
def _cached_pipeline(name: str, duckdb_path, postgres):
    return make_pipeline(name, duckdb_path, postgres=postgres)


def _source(resources: tuple[str, ...], first_day=None, last_day=None):
    config = settings.load()
    first_day = first_day or config.first_partition_date
    return jaffle_shop_source(
        config.jaffle_api_url,
        first_day,
        last_day or first_day,
        page_size=config.api_page_size,
        resources=resources,
        max_rejected_share=config.max_rejected_share,
    )


def _orders_per_day(first_day, last_day) -> tuple[dict[str, int], dict[str, int]]:
    """Rows now in raw.orders per day of the window (a range run reports each day), and the
    window's records in raw.dead_letter per kind of rejection."""
    with read_only() as warehouse:
        rows = warehouse.execute(
            "select cast(ordered_at as date) as day, count(*) from raw.orders "
            "where cast(ordered_at as date) between ? and ? group by day order by day",
            [first_day, last_day],
        ).fetchall()
        rejected = rejected_counts(warehouse, first_day, last_day)
    return {day.isoformat(): count for day, count in rows}, rejected


@dg.multi_asset(
    specs=_specs((ORDERS,)),
    name="raw_orders",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
@ingestion_retry
def raw_orders(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
    """Orders (and their `orders__items`) placed in the partition's days, merged on `id`."""
    first_day, last_day = partition_days(context.partition_time_window)
    ensure_api_reachable(settings.load().jaffle_api_url)
    try:
        results = list(
            dlt.run(
                context=context,
                dlt_source=_source((ORDERS,), first_day, last_day),
                dlt_pipeline=_pipeline("jaffle_shop_orders"),
                dagster_dlt_translator=TRANSLATOR,
                loader_file_format=loader_file_format(settings.load().postgres),
            )
        )
    except Exception as error:
        too_many = rejected_share_error(error)
        if too_many is None:
            raise
        # The source's data, not a transient fault: retrying would reject the same records.
        raise dg.Failure(description=str(too_many), allow_retries=False) from error
    finally:
        release_freed_memory()  # before the dbt step's process starts beside this one
    per_day, rejected = _orders_per_day(first_day, last_day)
    for result in results:
        yield dg.MaterializeResult(
            asset_key=result.asset_key,
            metadata={
                **(result.metadata or {}),
                "window": f"{first_day} .. {last_day}",
                "orders_in_window": sum(per_day.values()),
                "orders_per_day": dg.MetadataValue.json(per_day),
                # Set aside in raw.dead_letter; the `no_rejected_records` check warns on them.
                "rejected_records": sum(rejected.values()),
                "rejected_by_kind": dg.MetadataValue.json(rejected),
            },
        )


@dg.multi_asset(
    specs=_specs(REFERENCE_RESOURCES),
    name="raw_reference",
    # Unpartitioned, but single-run so it can join a `--partition-range` run of everything.
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
@ingestion_retry
def raw_reference(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
    """Customers, products, stores and supplies: small, so fetched whole on every run."""
    ensure_api_reachable(settings.load().jaffle_api_url)
    yield from dlt.run(
        context=context,
        dlt_source=_source(REFERENCE_RESOURCES),
        dlt_pipeline=_pipeline("jaffle_shop_reference"),
        dagster_dlt_translator=TRANSLATOR,
        loader_file_format=loader_file_format(settings.load().postgres),
    )
