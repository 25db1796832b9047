"""The asset graph a user sees: every dbt source fed by a dlt asset, every named asset present."""

import datetime as dt
import json

import dagster as dg
import pytest
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from ingestion.assets import raw_reference
from orchestration.definitions import defs
from transform.assets import build_dbt_models
from transform.loaded_tables import UnmatchedSourceError
from transform.model_meta import ROW_COUNT_TABLE, ROWS_PER_DAY_COLUMN
from transform.project import manifest_path

RAW = {"orders", "customers", "products", "stores", "supplies"}
STAGING = {
    "stg_orders",
    "stg_order_items",
    "stg_customers",
    "stg_products",
    "stg_locations",
    "stg_supplies",
}
# Checks of this project (not dbt tests) on dbt-built marts: reconciliation and freshness.
OWN_MART_CHECKS = {"orders_reconcile_with_raw", "freshness_check"}
MARTS = {"orders", "order_items", "customers", "products", "locations", "supplies", "daily_revenue"}


def _graph():
    return defs.resolve_asset_graph()


def _dbt_models() -> dg.AssetsDefinition:
    (dbt_models,) = [
        a
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition) and a.node_def.name == "dbt_models"
    ]
    return dbt_models


def _translator():
    return get_manifest_and_translator_from_dbt_assets([_dbt_models()])[1]


def test_every_named_asset_exists():
    keys = set(_graph().get_all_asset_keys())
    expected = (
        {dg.AssetKey(["raw", t]) for t in RAW}
        | {dg.AssetKey(["staging", m]) for m in STAGING}
        | {dg.AssetKey(["marts", m]) for m in MARTS}
    )
    assert expected <= keys


def test_every_dbt_source_is_the_dlt_asset_that_loads_its_table():
    """No source carries an asset key: each resolves by its schema and table, the child table
    orders__items to the asset that loads it with orders."""
    graph = _graph()
    manifest = json.loads(manifest_path().read_text())
    loaded_by = {}
    for source in manifest["sources"].values():
        assert "asset_key" not in source.get("meta", {}).get("dagster", {})
        key = _translator().get_asset_key(source)
        node = graph.get(key)
        assert node.is_materializable and "dlt" in node.kinds, key
        table = node.metadata["dagster/table_name"]
        loaded_by[f"{source['schema']}.{source['identifier']}"] = (key.to_user_string(), table)
    assert loaded_by == {
        "raw.customers": ("raw/customers", "raw.customers"),
        "raw.orders": ("raw/orders", "raw.orders"),
        "raw.orders__items": ("raw/orders", "raw.orders"),
        "raw.products": ("raw/products", "raw.products"),
        "raw.stores": ("raw/stores", "raw.stores"),
        "raw.supplies": ("raw/supplies", "raw.supplies"),
    }


def test_every_dbt_model_reads_only_defined_assets():
    graph = _graph()
    dbt_models = _dbt_models()
    for key in dbt_models.keys:
        for parent in graph.get(key).parent_keys:
            assert graph.get(parent).is_materializable, f"{key.to_user_string()} <- {parent}"


def test_a_source_no_dlt_asset_loads_stops_the_dbt_assets_with_a_message():
    with pytest.raises(UnmatchedSourceError) as error:
        build_dbt_models(loaders=[raw_reference])  # without raw/orders
    message = str(error.value)
    assert "dbt source `raw.orders" in message and "reads the table raw.orders" in message
    assert "raw.customers (raw/customers)" in message and "raw.supplies (raw/supplies)" in message
    assert "identifier:" in message and "models/staging/_sources.yml" in message


def test_marts_orders_descends_from_the_dlt_orders_asset():
    graph = _graph()
    upstream = graph.get(dg.AssetKey(["marts", "orders"])).parent_keys
    staging_parents = set().union(*(graph.get(k).parent_keys for k in upstream))
    assert dg.AssetKey(["raw", "orders"]) in staging_parents


def test_partitioned_assets_share_one_daily_partitioning():
    graph = _graph()
    partitioned = {
        graph.get(dg.AssetKey(path)).partitions_def
        for path in (
            ["raw", "orders"],
            ["staging", "stg_orders"],
            ["marts", "orders"],
            ["marts", "daily_revenue"],
        )
    }
    assert len(partitioned) == 1 and isinstance(partitioned.pop(), dg.DailyPartitionsDefinition)
    # The whole models share the dbt step, unpartitioned.
    for whole in (["staging", "stg_customers"], ["marts", "customers"]):
        assert graph.get(dg.AssetKey(whole)).partitions_def is None


def test_every_step_that_touches_the_warehouse_is_in_the_duckdb_pool():
    steps = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    steps += [c for c in defs.asset_checks if "freshness" not in c.node_def.name]
    # Exactly these: a new writer must be added here, and to the pool, on purpose.
    assert sorted(step.node_def.name for step in steps) == [
        "dashboards__daily_revenue_chart",
        "dbt_models",
        "marts__orders_orders_reconcile_with_raw",
        "raw_orders",
        "raw_orders_partition_checks",
        "raw_reference",
        "raw_schema_unchanged",
    ]
    for step in steps:
        if step.is_observable:  # the API observation reads no warehouse
            continue
        assert step.op.pool == "duckdb", step.node_def.name


def test_every_dbt_model_and_test_of_the_manifest_is_an_asset_or_a_check():
    manifest = json.loads(manifest_path().read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    graph = _graph()
    dbt_assets = {k for k in graph.get_all_asset_keys() if "dbt" in graph.get(k).kinds}
    dbt_checks = {
        key for key in graph.asset_check_keys if "dbt" in graph.get(key.asset_key).kinds
    } - {key for key in graph.asset_check_keys if key.name in OWN_MART_CHECKS}
    assert len(dbt_assets) == len(models) == len(STAGING) + len(MARTS)
    assert len(dbt_checks) == len(tests)
    # Everything else materializable: one dlt asset per raw table, and the dashboard.
    others = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable} - dbt_assets
    assert others == {dg.AssetKey(["raw", t]) for t in RAW} | {
        dg.AssetKey(["dashboards", "daily_revenue_chart"])
    }


# Every key and group of the example as they were when keys came from the model's schema: the
# folder rule (transform/translator.py) must give the same ones.
EXAMPLE_KEYS_AND_GROUPS = {
    "dashboards/daily_revenue_chart": "dashboards",
    "jaffle_shop_api": "sources",
    "marts/customers": "marts",
    "marts/daily_revenue": "marts",
    "marts/locations": "marts",
    "marts/order_items": "marts",
    "marts/orders": "marts",
    "marts/products": "marts",
    "marts/supplies": "marts",
    "raw/customers": "raw",
    "raw/orders": "raw",
    "raw/products": "raw",
    "raw/stores": "raw",
    "raw/supplies": "raw",
    "staging/stg_customers": "staging",
    "staging/stg_locations": "staging",
    "staging/stg_order_items": "staging",
    "staging/stg_orders": "staging",
    "staging/stg_products": "staging",
    "staging/stg_supplies": "staging",
}


def test_the_example_keeps_every_asset_key_and_group():
    graph = _graph()
    assert {
        key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()
    } == EXAMPLE_KEYS_AND_GROUPS


def test_marts_get_freshness_and_row_counts_from_their_dbt_meta():
    """dbt_project.yml declares them on the marts folder (and rows per day on marts/daily)."""
    graph = _graph()
    fresh, counted = {}, {}
    for key in _dbt_models().keys:
        node = graph.get(key)
        policy = node.freshness_policy
        if policy is not None:
            fresh[key.to_user_string()] = (policy.fail_window, policy.warn_window)
        if ROW_COUNT_TABLE in node.metadata:
            counted[key.to_user_string()] = (
                node.metadata[ROW_COUNT_TABLE],
                node.metadata.get(ROWS_PER_DAY_COLUMN),
            )
    day = dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=26), warn_window=dt.timedelta(hours=24.5)
    )
    marts = {f"marts/{m}" for m in MARTS}
    assert fresh == dict.fromkeys(marts, (day.fail_window, day.warn_window))
    daily = {"orders", "order_items", "daily_revenue"}
    assert counted == {
        f"marts/{m}": (f"marts.{m}", "order_date" if m in daily else None) for m in MARTS
    }
