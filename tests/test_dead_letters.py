"""Bad records in, through Dagster, dlt, dbt and DuckDB: the valid orders load and the marts build,
the bad ones wait in `raw.dead_letter` behind a WARN check, too many fail the window, re-running
a fixed window replays it, and late changes to a day's orders reach raw and the marts.

The stand-in serves the malformed records itself (seeded), and its `malformed_orders` says
which ones, so every expectation is computed rather than written down.
"""

import dataclasses
import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from jaffle_api.order_book import malformed_orders
from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.definitions import defs
from tests.support import fetch_all, query, run_partition_range

WEEK = ("2024-03-01", "2024-03-07")
CHECK = dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), "no_rejected_records")
# How the stand-in breaks a record, and how ingestion names what it found.
KIND_FOUND = {
    "missing_id": "missing_field",
    "text_number": "wrong_type",
    "unparseable_timestamp": "bad_timestamp",
    "impossible_timestamp": "bad_timestamp",
    "negative_amount": "negative_amount",
    "unknown_sku": "unknown_sku",
    "duplicate_id": "duplicate_id",
}
FIELD_NAMED = {
    "missing_id": "required field 'id' is missing",
    "text_number": "field 'subtotal' is '",
    "unparseable_timestamp": "field 'ordered_at' is '",
    "impossible_timestamp": "field 'ordered_at' is '",
    "negative_amount": "field 'subtotal' is -",
    "unknown_sku": "field 'sku' is 'JAF-999'",
    "duplicate_id": "first copy was kept",
}


def api_settings(**changes) -> ApiSettings:
    return dataclasses.replace(ApiSettings.from_env({}), **changes)


def days(first: str, last: str) -> list[dt.date]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def run(instance, warehouse: Path, api: str, first: str, last: str) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DUCKDB_PATH", str(warehouse))
        env.setenv("JAFFLE_API_URL", api)
        return run_partition_range(defs, instance, first, last, raise_on_error=False)


def ids(warehouse: Path, sql: str) -> list[str]:
    return [row[0] for row in query(warehouse, sql)]


def dead_letters(warehouse: Path) -> list[dict]:
    rows = query(
        warehouse,
        "select source, window_start::varchar, window_end::varchar, day::varchar, kind, reason, "
        "page_url, payload from raw.dead_letter",
    )
    names = ("source", "window_start", "window_end", "day", "kind", "reason", "page_url")
    return [{**dict(zip(names, row[:-1], strict=True)), "payload": row[-1]} for row in rows]


def check_evaluation(result: dg.ExecuteInProcessResult):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == CHECK]
    return evaluation


@pytest.fixture(scope="module")
def week_with_bad_records(api_url, tmp_path_factory):
    """A week loaded while the API serves ~0.5% malformed orders, then re-run once the API is
    fixed (the replay), into one warehouse."""
    warehouse = tmp_path_factory.mktemp("bad_records") / "warehouse.duckdb"
    settings = api_settings(malformed_rate=0.005)
    with dg.DagsterInstance.ephemeral() as instance:
        with running_api(settings) as bad_url:
            served = fetch_all(bad_url, "orders", start_date=WEEK[0], end_date=WEEK[1])
            loaded = run(instance, warehouse, bad_url, *WEEK)
        after_bad = {
            "letters": dead_letters(warehouse),
            "raw": ids(warehouse, "select id from raw.orders"),
            "marts": ids(warehouse, "select order_id from marts.orders"),
        }
        replayed = run(instance, warehouse, api_url, *WEEK)
    return {
        "warehouse": warehouse,
        "bad_url": bad_url,
        "served": served,
        "malformed": [m for day in days(*WEEK) for m in malformed_orders(settings, day)],
        "clean": fetch_all(api_url, "orders", start_date=WEEK[0], end_date=WEEK[1]),
        "runs": (loaded, replayed),
        "after_bad": after_bad,
    }


def test_below_the_threshold_the_run_succeeds_and_loads_every_valid_order(week_with_bad_records):
    data = week_with_bad_records
    loaded, _ = data["runs"]
    malformed = data["malformed"]
    assert loaded.success
    assert set(KIND_FOUND) == {m.kind for m in malformed}  # a week shows every kind
    assert len(malformed) / len(data["served"]) < 0.01

    broken = {m.order_id for m in malformed if m.kind != "duplicate_id"}
    expected = {o["id"] for o in data["clean"]} - broken
    raw = data["after_bad"]["raw"]
    assert len(raw) == len(set(raw)) and set(raw) == expected
    marts = data["after_bad"]["marts"]
    assert len(marts) == len(set(marts)) and set(marts) == expected


def test_every_malformed_record_is_in_the_dead_letter_table_with_its_reason(week_with_bad_records):
    data = week_with_bad_records
    letters = data["after_bad"]["letters"]
    by_payload = {json.dumps(json.loads(x["payload"]), sort_keys=True): x for x in letters}
    assert len(letters) == len(by_payload) == len(data["malformed"])

    # The served records that are malformed: without an id, broken, or a later copy of an id.
    kind_of = {m.order_id: m.kind for m in data["malformed"]}
    seen: set[str] = set()
    for record in data["served"]:
        order_id = record.get("id")
        if order_id in seen:
            kind = "duplicate_id"
        elif order_id is None:
            kind = "missing_id"
        elif kind_of.get(order_id, "duplicate_id") != "duplicate_id":
            kind = kind_of[order_id]
        else:
            seen.add(order_id)
            continue
        letter = by_payload.pop(json.dumps(record, sort_keys=True))
        assert letter["kind"] == KIND_FOUND[kind]
        assert FIELD_NAMED[kind] in letter["reason"], letter["reason"]
        assert letter["source"] == "jaffle_shop/orders"
        assert (letter["window_start"], letter["window_end"]) == WEEK
        assert letter["page_url"].startswith(
            f"{data['bad_url']}/orders?start_date={WEEK[0]}&end_date={WEEK[1]}"
        )
        readable_day = record["ordered_at"][:10] if "timestamp" not in kind else WEEK[0]
        assert letter["day"] == readable_day
    assert by_payload == {}


def test_the_check_warns_and_the_materialization_counts_the_rejected(week_with_bad_records):
    loaded, _ = week_with_bad_records["runs"]
    count = len(week_with_bad_records["malformed"])

    evaluation = check_evaluation(loaded)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["rejected_records"].value == count
    assert "field" in evaluation.metadata["sample_reasons"].value
    # One materialization per partition of the range run, each with the window's figures.
    materializations = [
        m
        for m in loaded.asset_materializations_for_node("raw_orders")
        if m.asset_key == dg.AssetKey(["raw", "orders"])
    ]
    assert len(materializations) == len(days(*WEEK))
    by_kind = dict(Counter(KIND_FOUND[m.kind] for m in week_with_bad_records["malformed"]))
    for materialization in materializations:
        assert materialization.metadata["rejected_records"].value == count
        assert materialization.metadata["rejected_by_kind"].value == by_kind


def test_rerunning_the_window_once_the_source_is_fixed_empties_its_dead_letters(
    week_with_bad_records,
):
    data = week_with_bad_records
    warehouse = data["warehouse"]
    _, replayed = data["runs"]
    assert replayed.success and check_evaluation(replayed).passed

    assert dead_letters(warehouse) == []
    expected = {o["id"] for o in data["clean"]}
    for sql in ("select id from raw.orders", "select order_id from marts.orders"):
        found = ids(warehouse, sql)
        assert len(found) == len(set(found)) and set(found) == expected
    items = ids(warehouse, "select id from raw.orders__items")
    assert sorted(items) == sorted(i["id"] for o in data["clean"] for i in o["items"])


def test_above_the_threshold_the_run_fails_naming_the_share_and_writes_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with (
        dg.DagsterInstance.ephemeral() as instance,
        running_api(api_settings(malformed_rate=0.05)) as bad_url,
    ):
        served = fetch_all(bad_url, "orders", start_date="2024-03-01", end_date="2024-03-01")
        failed = run(instance, warehouse, bad_url, "2024-03-01", "2024-03-01")

    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "raw_orders"
    message = failure.step_failure_data.error.message
    rejected = len(malformed_orders(api_settings(malformed_rate=0.05), dt.date(2024, 3, 1)))
    share = f"{rejected} of {len(served)} orders ({rejected / len(served):.1%})"
    assert f"{share} for 2024-03-01..2024-03-01 were rejected" in message, message
    assert "MAX_REJECTED_SHARE=1%" in message and "field '" in message
    # Not retried: the same records would be rejected again.
    assert not [e for e in failed.all_events if e.event_type_value == "STEP_RESTARTED"]
    if warehouse.exists():
        tables = query(
            warehouse,
            "select table_name from information_schema.tables where table_schema = 'raw' "
            "and table_name in ('orders', 'orders__items', 'dead_letter')",
        )
        assert tables == [] or query(
            warehouse,
            "select (select count(*) from raw.orders) + (select count(*) from raw.dead_letter)",
        ) == [(0,)]


def test_a_revised_day_reloaded_updates_raw_and_the_marts(api_url, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    revised = api_settings(revised_days=(dt.date(2024, 3, 2),), revision=1)
    before = fetch_all(api_url, "orders", start_date="2024-03-01", end_date="2024-03-01")
    with dg.DagsterInstance.ephemeral() as instance:
        assert run(instance, warehouse, api_url, "2024-03-01", "2024-03-02").success
        with running_api(revised) as revised_url:
            late = fetch_all(revised_url, "orders", start_date="2024-03-02", end_date="2024-03-02")
            assert run(instance, warehouse, revised_url, "2024-03-02", "2024-03-02").success
    original = fetch_all(api_url, "orders", start_date="2024-03-02", end_date="2024-03-02")
    assert [o["id"] for o in late] == [o["id"] for o in original]
    assert [o["order_total"] for o in late] != [o["order_total"] for o in original]

    def money(orders):
        return {o["id"]: (o["subtotal"], o["tax_paid"], o["order_total"]) for o in orders}

    raw = query(warehouse, "select id, subtotal, tax_paid, order_total from raw.orders")
    assert len(raw) == len({row[0] for row in raw})
    assert {row[0]: tuple(row[1:]) for row in raw} == money(before) | money(late)
    items = ids(warehouse, "select id from raw.orders__items")
    assert sorted(items) == sorted(i["id"] for o in before + late for i in o["items"])

    marts = query(
        warehouse, "select order_id, subtotal, tax_paid, order_total, item_count from marts.orders"
    )
    assert len(marts) == len({row[0] for row in marts})
    cents = {row[0]: tuple(int(Decimal(v) * 100) for v in row[1:4]) for row in marts}
    assert cents == money(before) | money(late)
    assert {row[0]: row[4] for row in marts if row[0] in money(late)} == {
        o["id"]: len(o["items"]) for o in late
    }
    [(revenue, total)] = query(
        warehouse,
        "select sum(revenue), sum(order_total) from marts.daily_revenue "
        "where order_date = '2024-03-02'",
    )
    assert int(revenue * 100) == sum(o["subtotal"] for o in late)
    assert int(total * 100) == sum(o["order_total"] for o in late)


def test_the_cli_prints_the_rejected_count_and_fails_above_the_threshold(
    tmp_path, monkeypatch, capsys
):
    from ingestion.__main__ import main

    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    # The CLI's pipeline keeps its state in dlt's data folder: one of the test's own.
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    argv = ["--start", "2024-03-01", "--end", "2024-03-03", "--resources", "orders"]
    settings = api_settings(malformed_rate=0.005)
    expected = sum(len(malformed_orders(settings, day)) for day in days("2024-03-01", "2024-03-03"))
    with running_api(settings) as bad_url:
        monkeypatch.setenv("JAFFLE_API_URL", bad_url)
        assert main(argv) == 0
    assert f"Rejected records for 2024-03-01..2024-03-03: {expected} (" in capsys.readouterr().out

    with running_api(api_settings(malformed_rate=0.05)) as worse_url:
        monkeypatch.setenv("JAFFLE_API_URL", worse_url)
        assert main(argv) == 1
    assert "were rejected, above MAX_REJECTED_SHARE=1%" in capsys.readouterr().err


def _load_orders(instance, warehouse: Path, api: str, first: str, last: str):
    """Only the dlt orders step (raw/orders and its tables) for first..last, as a range run."""
    raw_orders = next(a for a in defs.assets if a.node_def.name == "raw_orders")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DUCKDB_PATH", str(warehouse))
        env.setenv("JAFFLE_API_URL", api)
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=list(raw_orders.keys),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
            raise_on_error=False,
        )


@pytest.mark.parametrize(
    ("malformed_rate", "first", "last"),
    [(0.03, "2024-03-01", "2024-03-01"), (0.005, "2024-03-01", "2024-03-07")],
    ids=["above the default, below the setting", "below the default, above the setting"],
)
def test_max_rejected_share_sets_where_a_window_fails(
    tmp_path, monkeypatch, malformed_rate, first, last
):
    """The window's rejected share lies between the default (1%) and MAX_REJECTED_SHARE: the
    setting decides, whichever side of the default it is on. A window above it fails, below
    it loads."""
    settings = api_settings(malformed_rate=malformed_rate)
    with running_api(settings) as bad_url:
        served = fetch_all(bad_url, "orders", start_date=first, end_date=last)
        rejected = sum(len(malformed_orders(settings, day)) for day in days(first, last))
        share = rejected / len(served)
        assert rejected and share != 0.01
        threshold = share * 1.5 if share > 0.01 else share / 2
        monkeypatch.setenv("MAX_REJECTED_SHARE", str(threshold))
        with dg.DagsterInstance.ephemeral() as instance:
            result = _load_orders(instance, tmp_path / "warehouse.duckdb", bad_url, first, last)

    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    if share < threshold:
        assert result.success, failures
        assert len(dead_letters(tmp_path / "warehouse.duckdb")) == rejected
    else:
        assert not result.success
        message = failures[0].step_failure_data.error.message
        assert f"were rejected, above MAX_REJECTED_SHARE={threshold * 100:g}%" in message
