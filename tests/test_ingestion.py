"""The dlt source over real HTTP into a real DuckDB file: what lands in `raw` is what the API
serves for the window, re-loads change nothing, bad records go to `raw.dead_letter` while the
good ones load, and too many bad records stop the load loudly."""

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import source as ingestion_source
from ingestion.pipeline import LOADER_FILE_FORMAT, make_pipeline
from ingestion.reachability import ApiUnreachableError, ensure_api_reachable
from ingestion.source import ORDERS, REFERENCE_RESOURCES, jaffle_shop_source
from jaffle_api import faults
from jaffle_api.faults import _reset_midway as reset_connection
from jaffle_api.faults import _send_json as send_json
from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from tests.support import fetch_all, query

ORDER_COLUMNS = [
    ("id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("store_id", "VARCHAR"),
    ("ordered_at", "TIMESTAMP WITH TIME ZONE"),
    ("subtotal", "BIGINT"),
    ("tax_paid", "BIGINT"),
    ("order_total", "BIGINT"),
    ("_dlt_load_id", "VARCHAR"),
]
ITEM_COLUMNS = [("id", "VARCHAR"), ("order_id", "VARCHAR"), ("sku", "VARCHAR"), *ORDER_COLUMNS[-1:]]


@pytest.fixture
def load_orders(tmp_path: Path):
    """Load the orders of first..last (ISO days) from an API into one warehouse per test."""
    warehouse = tmp_path / "warehouse.duckdb"
    pipeline = make_pipeline("test_orders", warehouse, pipelines_dir=tmp_path / "dlt")

    def load(
        base_url: str, first: str, last: str, page_size: int = 100, max_rejected_share=0.01
    ) -> Path:
        source = jaffle_shop_source(
            base_url,
            dt.date.fromisoformat(first),
            dt.date.fromisoformat(last),
            page_size=page_size,
            resources=(ORDERS,),
            max_rejected_share=max_rejected_share,
        )
        pipeline.run(source, loader_file_format=LOADER_FILE_FORMAT)
        return warehouse

    load.warehouse = warehouse
    return load


def served(api_url: str, first: str, last: str) -> tuple[set[str], set[str]]:
    """The ids of the orders and of their items that the API serves for first..last."""
    orders = fetch_all(api_url, "orders", start_date=first, end_date=last)
    return {o["id"] for o in orders}, {i["id"] for o in orders for i in o["items"]}


def loaded(warehouse: Path) -> tuple[set[str], set[str]]:
    orders = query(warehouse, "select id from raw.orders")
    items = query(warehouse, "select id from raw.orders__items")
    return {row[0] for row in orders}, {row[0] for row in items}


def row_counts(warehouse: Path) -> tuple[int, int]:
    return query(
        warehouse,
        "select (select count(*) from raw.orders), (select count(*) from raw.orders__items)",
    )[0]


def closed_port_url() -> str:
    """An API URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1"


def columns(warehouse: Path, table: str) -> list[tuple[str, str]]:
    return query(
        warehouse,
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'raw' and table_name = '{table}' order by ordinal_position",
    )


def test_a_window_loads_exactly_the_orders_and_items_the_api_serves(
    api_url, load_orders, monkeypatch
):
    # Pages that do not divide the window (a partial last one), handed to dlt in several
    # batches of a few pages, as a long window is.
    monkeypatch.setattr(ingestion_source, "_ORDERS_PER_BATCH", 150)
    warehouse = load_orders(api_url, "2024-03-01", "2024-03-02", page_size=97)

    api_orders, api_items = served(api_url, "2024-03-01", "2024-03-02")
    assert len(api_orders) > 97 and len(api_items) > len(api_orders)
    assert loaded(warehouse) == (api_orders, api_items)
    assert row_counts(warehouse) == (len(api_orders), len(api_items))
    assert columns(warehouse, "orders") == ORDER_COLUMNS
    assert columns(warehouse, "orders__items") == ITEM_COLUMNS
    # Each item sits under the order it came in, and timestamps are the API's naive UTC.
    (orphans,) = query(
        warehouse,
        "select count(*) from raw.orders__items i anti join raw.orders o on i.order_id = o.id",
    )[0]
    assert orphans == 0
    first = fetch_all(api_url, "orders", start_date="2024-03-01", end_date="2024-03-01")[0]
    (ordered_at,) = query(
        warehouse,
        "select strftime(ordered_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%S') "
        f"from raw.orders where id = '{first['id']}'",
    )[0]
    assert ordered_at == first["ordered_at"]


def test_reloading_a_window_changes_nothing_and_the_next_window_adds_its_orders(
    api_url, load_orders
):
    warehouse = load_orders(api_url, "2024-03-01", "2024-03-01")
    once = row_counts(warehouse)
    load_orders(api_url, "2024-03-01", "2024-03-01")
    assert row_counts(warehouse) == once

    next_orders, next_items = served(api_url, "2024-03-02", "2024-03-02")
    load_orders(api_url, "2024-03-02", "2024-03-02")
    assert row_counts(warehouse) == (once[0] + len(next_orders), once[1] + len(next_items))


def test_reloading_an_order_replaces_its_items_so_removed_items_do_not_linger(api_url, load_orders):
    import duckdb

    warehouse = load_orders(api_url, "2024-03-01", "2024-03-01")
    with duckdb.connect(str(warehouse)) as con:
        (order_id,) = con.execute("select min(order_id) from raw.orders__items").fetchone()
        # An item the source no longer lists for this order (e.g. removed from the basket).
        con.execute(
            "insert into raw.orders__items (id, order_id, sku, _dlt_load_id) "
            "select 'item-gone-upstream', ?, 'JAF-001', max(_dlt_load_id) from raw.orders__items",
            [order_id],
        )
    load_orders(api_url, "2024-03-01", "2024-03-01")
    assert query(
        warehouse, "select count(*) from raw.orders__items where id = 'item-gone-upstream'"
    ) == [(0,)]
    assert loaded(warehouse) == served(api_url, "2024-03-01", "2024-03-01")


def test_the_last_day_of_the_window_is_loaded_and_the_day_after_is_not(api_url, load_orders):
    warehouse = load_orders(api_url, "2024-03-01", "2024-03-03")

    last_day, _ = served(api_url, "2024-03-03", "2024-03-03")
    by_day = dict(
        query(
            warehouse,
            "select cast(ordered_at at time zone 'UTC' as date)::varchar, count(*) "
            "from raw.orders group by all",
        )
    )
    assert set(by_day) == {"2024-03-01", "2024-03-02", "2024-03-03"}
    assert by_day["2024-03-03"] == len(last_day) > 0


def test_transient_api_faults_are_retried_and_the_window_still_loads_exactly(
    api_url, load_orders, monkeypatch
):
    # dlt's client retries with exponential backoff; shortened here to keep the test quick.
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
    flaky = ApiSettings(error_rate=0.3, rate_limit_rate=0.1, retry_after_s=0, fault_seed=3)
    served_faults = []  # the faulty responses the stand-in really sent, in order

    async def error_response(send, status, detail, headers=()):
        served_faults.append(status)
        await send_json(send, status, detail, headers)

    async def reset_midway(*args):
        served_faults.append("reset")
        await reset_connection(*args)

    monkeypatch.setattr(faults, "_send_json", error_response)
    monkeypatch.setattr(faults, "_reset_midway", reset_midway)
    with running_api(flaky) as flaky_url:
        warehouse = load_orders(flaky_url, "2024-03-01", "2024-03-02", page_size=50)

    assert loaded(warehouse) == served(api_url, "2024-03-01", "2024-03-02")
    # The faults really happened: transient failures and rate limits, each retried.
    assert 429 in served_faults
    assert {500, 502, 503, "reset"} & set(served_faults)


def test_building_the_source_touches_no_network():
    source = jaffle_shop_source(closed_port_url(), dt.date(2024, 3, 1), dt.date(2024, 3, 1))
    assert set(source.resources) == {ORDERS, *REFERENCE_RESOURCES}


def test_a_window_without_orders_still_creates_the_tables_with_their_types(api_url, load_orders):
    warehouse = load_orders(api_url, "2023-06-01", "2023-06-02")  # before the API's first day

    assert row_counts(warehouse) == (0, 0)
    assert columns(warehouse, "orders") == ORDER_COLUMNS
    assert columns(warehouse, "orders__items") == ITEM_COLUMNS


def _order(order_id: str, **changes) -> dict:
    order = {
        "id": order_id,
        "customer_id": "c-1",
        "store_id": "s-1",
        "ordered_at": "2024-03-01T08:15:02",
        "subtotal": 1199,
        "tax_paid": 72,
        "order_total": 1271,
        "items": [{"id": f"{order_id}-item", "order_id": order_id, "sku": "JAF-001"}],
    }
    order.update(changes)
    return order


@contextmanager
def serving_pages(pages: list[list[dict]]) -> Iterator[str]:
    """A tiny API on loopback serving `pages` of `/orders`, linked by `Link: rel="next"`, and
    one product, JAF-001, at `/products`."""

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            number = int(parse_qs(url.query).get("page", ["1"])[0])
            if url.path.endswith("/products"):
                pages_here = [[{"sku": "JAF-001", "name": "nutellaphone who dis?"}]]
            else:
                pages_here = pages
            body = json.dumps(pages_here[number - 1]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if number < len(pages_here):
                self.send_header("Link", f'<{url.path}?page={number + 1}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def dead_letters(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "select source, window_start::varchar, window_end::varchar, day::varchar, kind, reason, "
        "page_url, payload from raw.dead_letter order by reason",
    )


@pytest.mark.parametrize(
    ("bad_order", "kind", "names"),
    [
        (
            {k: v for k, v in _order("o-9").items() if k != "id"},
            "missing_field",
            ["'id'", "order at position 1"],
        ),
        (_order("o-9", order_total="12.71"), "wrong_type", ["'order_total'", "'o-9'"]),
        (_order("o-9", order_total=12.71), "wrong_type", ["'order_total'", "'o-9'"]),
        (
            _order("o-9", items=[{"order_id": "o-9", "sku": "JAF-001"}]),
            "missing_field",
            ["'id'", "item at position 1"],
        ),
        (_order("o-9", ordered_at="2024-02-30T10:00:00"), "bad_timestamp", ["'ordered_at'"]),
        (_order("o-9", ordered_at="yesterday"), "bad_timestamp", ["'ordered_at'", "'yesterday'"]),
        (_order("o-9", tax_paid=-72), "negative_amount", ["'tax_paid'", "-72"]),
        (
            _order("o-9", items=[{"id": "i-9", "order_id": "o-9", "sku": "JAF-999"}]),
            "unknown_sku",
            ["'sku'", "'JAF-999'"],
        ),
        (
            _order("o-9", items=[{"id": "i-9", "order_id": "o-1", "sku": "JAF-001"}]),
            "item_order_mismatch",
            ["'order_id'", "'o-1'"],
        ),
        (
            _order("o-9", ordered_at="2024-03-02T00:00:00"),
            "outside_window",
            ["'ordered_at'", "2024-03-01..2024-03-01"],
        ),
        (_order("o-1", subtotal=1299), "duplicate_id", ["'o-1'", "first copy was kept"]),
    ],
    ids=[
        "order-without-id",
        "order-total-as-text",
        "order-total-fractional",
        "item-without-id",
        "impossible-timestamp",
        "unparseable-timestamp",
        "negative-amount",
        "unknown-sku",
        "item-of-another-order",
        "outside-the-window",
        "duplicate-id-other-content",
    ],
)
def test_a_malformed_record_goes_to_the_dead_letter_table_and_the_others_load(
    load_orders, bad_order, kind, names
):
    good_page = [_order(f"o-{n}") for n in range(3)]
    with serving_pages([good_page, [bad_order, _order("o-5")]]) as base_url:
        warehouse = load_orders(base_url, "2024-03-01", "2024-03-01", max_rejected_share=0.5)

    # The first copy of o-1 is the one kept, with its own items.
    assert loaded(warehouse) == (
        {"o-0", "o-1", "o-2", "o-5"},
        {"o-0-item", "o-1-item", "o-2-item", "o-5-item"},
    )
    assert query(warehouse, "select subtotal from raw.orders where id = 'o-1'") == [(1199,)]
    [(source, start, end, day, rejected_kind, reason, page_url, payload)] = dead_letters(warehouse)
    assert (source, start, end, day) == ("jaffle_shop/orders", *["2024-03-01"] * 3)
    assert rejected_kind == kind
    assert "page=2" in page_url and page_url in reason
    assert all(name in reason for name in names), reason
    assert json.loads(payload) == bad_order


def test_an_identical_second_copy_of_an_order_is_dropped_without_a_dead_letter(load_orders):
    pages = [[_order("o-1"), _order("o-2")], [_order("o-2"), _order("o-3")]]
    with serving_pages(pages) as base_url:
        warehouse = load_orders(base_url, "2024-03-01", "2024-03-01")

    assert loaded(warehouse) == ({"o-1", "o-2", "o-3"}, {"o-1-item", "o-2-item", "o-3-item"})
    assert dead_letters(warehouse) == []


def test_too_many_rejected_records_fail_the_window_naming_the_share_and_load_nothing(
    load_orders,
):
    pages = [[_order(f"o-{n}") for n in range(9)], [_order("o-9", subtotal="9.99x")]]
    with (
        serving_pages(pages) as base_url,
        pytest.raises(PipelineStepFailed) as failure,
    ):
        load_orders(base_url, "2024-03-01", "2024-03-01", max_rejected_share=0.05)

    message = str(failure.value)
    assert "1 of 10 orders (10.0%) for 2024-03-01..2024-03-01 were rejected" in message, message
    assert "MAX_REJECTED_SHARE=5%" in message and "'9.99x'" in message
    # Neither the good orders nor the dead letter of the window were loaded.
    assert not load_orders.warehouse.exists() or not query(
        load_orders.warehouse,
        "select table_name from information_schema.tables where table_schema = 'raw' "
        "and table_name in ('orders', 'orders__items', 'dead_letter')",
    )


def test_a_failed_load_leaves_nothing_behind_for_the_next_run(load_orders, monkeypatch):
    # Two batches: the first is handed to dlt before the second page shows the bad records.
    monkeypatch.setattr(ingestion_source, "_ORDERS_PER_BATCH", 2)
    first_pages = [[_order("o-1"), _order("o-2")], [_order("o-3", order_total="x")]]
    with serving_pages(first_pages) as base_url, pytest.raises(PipelineStepFailed):
        load_orders(base_url, "2024-03-01", "2024-03-01")

    with serving_pages([[_order("o-4")]]) as base_url:
        warehouse = load_orders(base_url, "2024-03-01", "2024-03-01")
    assert loaded(warehouse) == ({"o-4"}, {"o-4-item"})
    assert dead_letters(warehouse) == []


def test_reloading_a_fixed_window_empties_its_dead_letters_and_keeps_other_days(load_orders):
    day_one = [_order("o-1"), _order("o-2", tax_paid=-1)]
    day_two = [_order("o-3", ordered_at="2024-03-02T09:00:00", subtotal="x")]
    with serving_pages([day_one, day_two]) as base_url:
        warehouse = load_orders(base_url, "2024-03-01", "2024-03-02", max_rejected_share=1)
    assert [row[3] for row in dead_letters(warehouse)] == ["2024-03-01", "2024-03-02"]

    with serving_pages([[_order("o-1"), _order("o-2")]]) as base_url:
        load_orders(base_url, "2024-03-01", "2024-03-01")
    # Day one is replayed clean; day two was not re-loaded, so its dead letter stays.
    assert [row[3] for row in dead_letters(warehouse)] == ["2024-03-02"]
    assert loaded(warehouse)[0] == {"o-1", "o-2"}


def test_an_unreachable_api_is_named_with_the_setting_to_change():
    url = closed_port_url()
    with pytest.raises(ApiUnreachableError) as error:
        ensure_api_reachable(url, timeout_s=2)
    assert url in str(error.value) and "JAFFLE_API_URL" in str(error.value)
