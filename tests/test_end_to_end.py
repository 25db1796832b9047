"""A range of days through dlt, dbt and DuckDB in one in-process run, reconciled with the API."""

import datetime as dt
import io
import json
from base64 import b64encode
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from tests.support import fetch_all, query, run_partition_range

FIRST_DAY, LAST_DAY = "2024-03-01", "2024-03-04"
MARTS = ("orders", "order_items", "customers", "products", "locations", "supplies", "daily_revenue")


def materialize_range(
    instance: dg.DagsterInstance, start: str, end: str
) -> dg.ExecuteInProcessResult:
    """Run every asset for the partitions `start`..`end` in one run, as the CLI does."""
    from orchestration.definitions import defs

    return run_partition_range(defs, instance, start, end)


def mart_fingerprints(warehouse) -> dict[str, tuple]:
    """Row count and an order-independent checksum of every mart."""
    return {
        mart: query(warehouse, f"select count(*), sum(hash(t)) from marts.{mart} as t")[0]
        for mart in MARTS
    }


@pytest.fixture(scope="module")
def loaded(api_url, tmp_path_factory):
    """Materialize the range once for the whole module; a second identical run follows."""
    warehouse = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DUCKDB_PATH", str(warehouse))
        with dg.DagsterInstance.ephemeral() as instance:
            first = materialize_range(instance, FIRST_DAY, LAST_DAY)
            after_first = mart_fingerprints(warehouse)
            second = materialize_range(instance, FIRST_DAY, LAST_DAY)
            after_second = mart_fingerprints(warehouse)
    return {
        "warehouse": warehouse,
        "runs": (first, second),
        "fingerprints": (after_first, after_second),
        "api_orders": fetch_all(api_url, "orders", start_date=FIRST_DAY, end_date=LAST_DAY),
    }


def test_both_runs_succeed(loaded):
    assert all(run.success for run in loaded["runs"])


def test_marts_orders_holds_exactly_the_orders_the_api_serves(loaded):
    api_ids = {order["id"] for order in loaded["api_orders"]}
    mart_ids = [row[0] for row in query(loaded["warehouse"], "select order_id from marts.orders")]
    assert len(api_ids) > 500  # four days at ~170 a day: the range really holds data
    assert len(mart_ids) == len(set(mart_ids)) == len(api_ids)
    assert set(mart_ids) == api_ids


def test_the_last_day_of_the_range_is_loaded_once(loaded):
    on_last_day = [o for o in loaded["api_orders"] if o["ordered_at"].startswith(LAST_DAY)]
    (count,) = query(
        loaded["warehouse"], f"select count(*) from marts.orders where order_date = '{LAST_DAY}'"
    )[0]
    assert on_last_day and count == len(on_last_day)
    (after,) = query(
        loaded["warehouse"], f"select count(*) from marts.orders where order_date > '{LAST_DAY}'"
    )[0]
    assert after == 0


def test_daily_revenue_reconciles_with_the_api_per_store_and_day(loaded):
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0])
    for order in loaded["api_orders"]:
        key = (dt.date.fromisoformat(order["ordered_at"][:10]), order["store_id"])
        expected[key][0] += 1
        expected[key][1] += order["subtotal"]
        expected[key][2] += order["tax_paid"]
        expected[key][3] += order["order_total"]
    rows = query(
        loaded["warehouse"],
        "select order_date, location_id, order_count, revenue, tax_paid, order_total "
        "from marts.daily_revenue",
    )
    actual = {
        (day, store): [count, *(int(Decimal(v) * 100) for v in money)]
        for day, store, count, *money in rows
    }
    assert actual == dict(expected)


def test_order_items_match_the_api(loaded):
    api_items = {item["id"] for order in loaded["api_orders"] for item in order["items"]}
    mart_items = {
        r[0] for r in query(loaded["warehouse"], "select order_item_id from marts.order_items")
    }
    assert api_items and mart_items == api_items


def test_customers_carry_lifetime_orders_and_spend(loaded):
    spend = defaultdict(int)
    for order in loaded["api_orders"]:
        spend[order["customer_id"]] += order["order_total"]
    rows = query(
        loaded["warehouse"],
        "select customer_id, lifetime_spend from marts.customers where lifetime_orders > 0",
    )
    assert {customer: int(Decimal(total) * 100) for customer, total in rows} == dict(spend)


def test_rerunning_the_range_changes_no_mart(loaded):
    first, second = loaded["fingerprints"]
    assert all(count > 0 for count, _ in first.values())
    assert first == second


def test_dbt_tests_and_data_checks_ran_as_asset_checks_and_passed(loaded):
    evaluations = [
        e
        for e in loaded["runs"][0].get_asset_check_evaluations()
        if e.asset_check_key.name != "freshness_check"
    ]
    names = {e.asset_check_key.name for e in evaluations}
    # Every check of the definitions ran exactly once: each dbt test of the manifest, and the
    # project's own checks (a check added or lost changes these numbers).
    from orchestration.definitions import defs
    from transform.project import manifest_path

    manifest = json.loads(manifest_path().read_text())
    dbt_tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    own_checks = [
        key
        for checks in defs.asset_checks
        if "freshness" not in checks.node_def.name
        for key in checks.check_keys
    ]
    expected = {
        key for key in defs.resolve_asset_graph().asset_check_keys if key.name != "freshness_check"
    }
    assert len(evaluations) == len(expected) == len(dbt_tests) + len(own_checks)
    assert {e.asset_check_key for e in evaluations} == expected
    assert {"orders_present_every_day", "order_keys_unique_and_not_null"} <= names
    assert {"orders_reconcile_with_raw", "schema_unchanged"} <= names
    assert [e.asset_check_key for e in evaluations if not e.passed] == []


def test_a_range_run_of_old_days_records_no_freshness_result(loaded):
    # Only 2024-03 was built: yesterday's lateness is the freshness sensor's to judge, not this
    # run's (orchestration/checks/freshness.py).
    assert [
        e
        for e in loaded["runs"][0].get_asset_check_evaluations()
        if e.asset_check_key.name == "freshness_check"
    ] == []


def test_range_run_records_orders_per_day(loaded):
    materialization = next(
        m
        for m in loaded["runs"][0].asset_materializations_for_node("raw_orders")
        if m.asset_key == dg.AssetKey(["raw", "orders"])
    )
    per_day = materialization.metadata["orders_per_day"].value
    assert sorted(per_day) == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    assert sum(per_day.values()) == len(loaded["api_orders"])


def test_marts_carry_row_counts(loaded):
    materialization = next(
        m
        for m in loaded["runs"][0].asset_materializations_for_node("dbt_models")
        if m.asset_key == dg.AssetKey(["marts", "orders"])
    )
    assert materialization.metadata["dagster/row_count"].value == len(loaded["api_orders"])
    assert len(materialization.metadata["rows_per_day"].value) == 4


def test_dashboard_chart_is_rendered_from_the_mart(loaded):
    from matplotlib import rcParams
    from matplotlib.colors import to_rgb
    from PIL import Image

    materialization = next(
        iter(loaded["runs"][0].asset_materializations_for_node("dashboards__daily_revenue_chart"))
    )
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    # The stores and days of the chart's window (its last 90 days) in the mart it draws.
    [(stores, days)] = query(
        loaded["warehouse"],
        "select count(distinct location_id), count(distinct order_date) from marts.daily_revenue "
        "where order_date > (select max(order_date) from marts.daily_revenue) - 90",
    )
    assert (metadata["stores"], metadata["days"]) == (stores, days)
    assert stores == len({order["store_id"] for order in loaded["api_orders"]}) and days == 4

    # The file is the picture the UI shows, a 1000x450 PNG with one line per store: the first
    # `stores` colours of matplotlib's cycle are drawn, the next one is not.
    png = Path(metadata["path"]).read_bytes()
    assert metadata["chart"] == f"![daily revenue](data:image/png;base64,{b64encode(png).decode()})"
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (1000, 450))
        drawn = {colour[:3] for _, colour in image.convert("RGB").getcolors(1000 * 450)}
    cycle = [to_rgb(c) for c in rcParams["axes.prop_cycle"].by_key()["color"]]
    line_colours = [tuple(round(channel * 255) for channel in c) for c in cycle[: stores + 1]]
    assert [colour in drawn for colour in line_colours] == [True] * stores + [False]
