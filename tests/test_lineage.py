"""The asset graph a user sees: every dbt source fed by a dlt asset, every named asset present."""

import json

import dagster as dg

from orchestration.definitions import defs
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


def test_every_named_asset_exists():
    keys = set(_graph().get_all_asset_keys())
    expected = (
        {dg.AssetKey(["raw", t]) for t in RAW}
        | {dg.AssetKey(["staging", m]) for m in STAGING}
        | {dg.AssetKey(["marts", m]) for m in MARTS}
    )
    assert expected <= keys


def test_every_dbt_source_is_materialized_by_a_dlt_asset():
    graph = _graph()
    manifest = json.loads(manifest_path().read_text())
    orphans = []
    for source in manifest["sources"].values():
        key_path = source.get("meta", {}).get("dagster", {}).get("asset_key") or [
            source["source_name"],
            source["name"],
        ]
        key = dg.AssetKey(key_path)
        node = graph.get(key) if graph.has(key) else None
        if node is None or not node.is_materializable or "dlt" not in node.kinds:
            orphans.append(key.to_user_string())
    assert orphans == []


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
