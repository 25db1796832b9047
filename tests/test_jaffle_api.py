"""The jaffle-shop stand-in, exercised over real HTTP on loopback the way a client sees it."""

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from jaffle_api.malformed import KINDS
from jaffle_api.order_book import malformed_orders
from jaffle_api.server import running_api
from jaffle_api.settings import Settings

# Ten pinned days keep every listing, even the unfiltered ones, small and reproducible.
TEN_DAYS = Settings(first_day=date(2024, 1, 1), last_day=date(2024, 1, 10))


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with running_api(TEN_DAYS) as base_url:
        yield base_url


def get(url: str, **params) -> requests.Response:
    response = requests.get(url, params=params or None, timeout=10)
    response.raise_for_status()
    return response


def walk(base_url: str, path: str, **params) -> tuple[list[dict], int]:
    """Every record of a listing, following `Link: rel="next"`, and the number of pages."""
    records, pages = [], 0
    url = f"{base_url}/{path}"
    while url:
        response = get(url, **params)
        records.extend(response.json())
        pages += 1
        next_link = response.links.get("next", {}).get("url")
        url = urljoin(response.url, next_link) if next_link else None
        params = {}
    return records, pages


def orders_between(base_url: str, start: str, end: str) -> list[dict]:
    return get(f"{base_url}/orders", start_date=start, end_date=end, page_size=5000).json()


def root(base_url: str) -> str:
    return base_url.removesuffix("/api/v1")


def test_the_same_seed_serves_the_same_data_on_two_servers():
    with running_api(TEN_DAYS) as first, running_api(TEN_DAYS) as second:
        for path in ("orders?start_date=2024-01-05&end_date=2024-01-06", "customers"):
            assert get(f"{first}/{path}").content == get(f"{second}/{path}").content


def test_a_different_seed_serves_different_orders(api):
    with running_api(replace(TEN_DAYS, seed=7)) as other:
        mine = orders_between(api, "2024-01-05", "2024-01-05")
        theirs = orders_between(other, "2024-01-05", "2024-01-05")
    assert {order["id"] for order in mine}.isdisjoint(order["id"] for order in theirs)


def test_the_date_filter_includes_both_ends(api):
    days = [orders_between(api, f"2024-01-0{day}", f"2024-01-0{day}") for day in (3, 4, 5)]
    span = orders_between(api, "2024-01-03", "2024-01-05")

    assert len(span) == sum(len(orders) for orders in days)
    assert span[0] == days[0][0]  # the first order on start_date
    assert span[-1] == days[-1][-1]  # the last order on end_date, late in the evening
    assert span[-1]["ordered_at"] > "2024-01-05T20:00:00"
    for day, orders in zip(("2024-01-03", "2024-01-04", "2024-01-05"), days, strict=True):
        assert orders and {order["ordered_at"][:10] for order in orders} == {day}


def test_either_end_of_the_date_filter_may_be_omitted(api):
    everything, _ = walk(api, "orders", page_size=5000)
    since, _ = walk(api, "orders", start_date="2024-01-09", page_size=5000)
    until, _ = walk(api, "orders", end_date="2024-01-08", page_size=5000)

    assert until + since == everything
    assert get(f"{api}/orders", end_date="2023-12-31").json() == []  # before the first day


def test_pages_followed_by_link_header_cover_every_order_once(api):
    one_page = orders_between(api, "2024-01-02", "2024-01-04")
    paged, pages = walk(api, "orders", start_date="2024-01-02", end_date="2024-01-04", page_size=37)

    assert paged == one_page
    assert len({order["id"] for order in paged}) == len(paged)
    assert pages == -(-len(one_page) // 37)
    keys = [(order["ordered_at"], order["id"]) for order in paged]
    assert keys == sorted(keys)


def test_the_link_header_is_relative_and_keeps_the_query(api):
    params = {"start_date": "2024-01-02", "end_date": "2024-01-04", "page_size": 100}
    response = get(f"{api}/orders", **params, page=2)

    link = response.headers["Link"]
    assert link.startswith("</api/v1/orders?") and link.endswith('>; rel="next"')
    query = parse_qs(urlsplit(response.links["next"]["url"]).query)
    assert query == {
        "start_date": ["2024-01-02"],
        "end_date": ["2024-01-04"],
        "page_size": ["100"],
        "page": ["3"],
    }


def test_the_last_page_has_no_link_and_pages_past_the_end_are_empty(api):
    day = {"start_date": "2024-01-02", "end_date": "2024-01-02", "page_size": 50}
    total = len(orders_between(api, "2024-01-02", "2024-01-02"))
    last_page = get(f"{api}/orders", **day, page=-(-total // 50))
    beyond = get(f"{api}/orders", **day, page=99)

    assert "Link" not in last_page.headers
    assert len(last_page.json()) == (total % 50 or 50)
    assert beyond.json() == [] and "Link" not in beyond.headers


def test_unfiltered_listings_page_across_days_and_match_row_counts(api):
    counts = {row["table_name"]: row["row_count"] for row in get(f"{api}/row-counts").json()}
    orders, _ = walk(api, "orders", page_size=1000)
    items, _ = walk(api, "items", page_size=1000)

    assert len(orders) == counts["orders"] and len(items) == counts["items"]
    assert items == [item for order in orders for item in order["items"]]
    assert len({item["id"] for item in items}) == len(items)
    assert (orders[0]["ordered_at"][:10], orders[-1]["ordered_at"][:10]) == (
        "2024-01-01",
        "2024-01-10",
    )
    assert (counts["customers"], counts["products"], counts["stores"]) == (935, 10, 6)


def test_default_volume_is_about_170_orders_a_day_with_one_and_a_half_items(api):
    orders, _ = walk(api, "orders", page_size=5000)
    items_per_order = [len(order["items"]) for order in orders]

    assert 150 <= len(orders) / 10 <= 190
    assert 1.35 <= sum(items_per_order) / len(orders) <= 1.65
    assert set(items_per_order) <= {1, 2, 3, 4}


def test_orders_per_day_setting_scales_volume():
    week = {"start_date": "2024-01-01", "end_date": "2024-01-07", "page_size": 5000}
    with running_api(replace(TEN_DAYS, orders_per_day=1700)) as busy:
        busy_orders, _ = walk(busy, "orders", **week)
    with running_api(replace(TEN_DAYS, orders_per_day=17)) as quiet:
        quiet_orders, _ = walk(quiet, "orders", **week)

    assert 7 * 1700 * 0.85 <= len(busy_orders) <= 7 * 1700 * 1.15
    assert 60 <= len(busy_orders) / len(quiet_orders) <= 140


def test_order_totals_add_up_from_item_prices_and_store_tax(api):
    prices = {product["sku"]: product["price"] for product in get(f"{api}/products").json()}
    tax_rates = {store["id"]: store["tax_rate"] for store in get(f"{api}/stores").json()}

    for order in orders_between(api, "2024-01-01", "2024-01-03"):
        subtotal = sum(prices[item["sku"]] for item in order["items"])
        assert order["subtotal"] == subtotal
        assert order["tax_paid"] == int(subtotal * tax_rates[order["store_id"]] + 0.5)
        assert order["order_total"] == order["subtotal"] + order["tax_paid"]
        assert all(item["order_id"] == order["id"] for item in order["items"])


def test_orders_reference_known_customers_at_stores_already_open(api):
    customers = {customer["id"] for customer in walk(api, "customers", page_size=5000)[0]}
    opened = {store["id"]: store["opened_at"] for store in get(f"{api}/stores").json()}
    firsts_of_month = [f"{year}-{month:02d}-01" for year in (2024, 2025) for month in range(1, 13)]
    with running_api(replace(TEN_DAYS, last_day=date(2025, 12, 31))) as two_years:
        orders = [order for day in firsts_of_month for order in orders_between(two_years, day, day)]

    assert {order["customer_id"] for order in orders} <= customers
    assert all(opened[order["store_id"]][:10] <= order["ordered_at"][:10] for order in orders)
    assert len({order["store_id"] for order in orders}) == 6  # all open by the end
    assert min(opened.values()) == "2024-01-01T00:00:00"  # one store from the first day
    datetime.fromisoformat(orders[0]["ordered_at"])  # ISO 8601, seconds, naive


def test_records_are_found_by_key_and_unknown_keys_are_404(api):
    order = orders_between(api, "2024-01-06", "2024-01-06")[-1]
    item = order["items"][0]
    store = get(f"{api}/stores").json()[-1]
    customer = get(f"{api}/customers").json()[0]

    assert get(f"{api}/orders/{order['id']}").json() == order
    assert get(f"{api}/items/{item['id']}").json() == item
    assert get(f"{api}/stores/{store['id']}").json() == store
    assert get(f"{api}/customers/{customer['id']}").json() == customer
    assert get(f"{api}/products/BEV-001").json()["type"] == "beverage"
    for path in ("orders/" + customer["id"], "items/nope", "products/JAF-999", "stores/x"):
        response = requests.get(f"{api}/{path}", timeout=10)
        assert response.status_code == 404 and response.json()["detail"]


def test_an_order_after_the_latest_day_is_not_served(api):
    with running_api(replace(TEN_DAYS, last_day=date(2024, 1, 20))) as longer:
        later = orders_between(longer, "2024-01-15", "2024-01-15")[0]
    assert requests.get(f"{api}/orders/{later['id']}", timeout=10).status_code == 404


def test_supplies_are_keyed_by_id_and_sku_not_id_alone(api):
    supplies = get(f"{api}/supplies").json()
    keys = [(supply["id"], supply["sku"]) for supply in supplies]

    assert len(supplies) == 65 and len(set(keys)) == 65
    assert len({supply["id"] for supply in supplies}) < 65
    assert get(f"{api}/supplies/SUP-001").json() == supplies[0]


def test_malformed_dates_are_rejected_with_a_clear_422(api):
    for bad in ("2024-13-01", "yesterday", "2024-1-5", "20240105"):
        response = requests.get(f"{api}/orders", params={"end_date": bad}, timeout=10)
        assert response.status_code == 422
        assert response.json() == {"detail": f"end_date must be a date as YYYY-MM-DD, got '{bad}'."}


def test_page_size_is_checked_and_capped(api):
    assert requests.get(f"{api}/items", params={"page_size": 0}, timeout=10).status_code == 422
    assert requests.get(f"{api}/items", params={"page": 0}, timeout=10).status_code == 422
    with running_api(replace(TEN_DAYS, orders_per_day=1700)) as busy:
        capped = get(f"{busy}/items", page_size=100_000)
    assert len(capped.json()) == 5000 and "page=2" in capped.headers["Link"]


def test_an_outage_answers_503_while_health_stays_ok():
    with running_api(replace(TEN_DAYS, outage=True)) as down:
        for path in ("orders", "customers/x", "row-counts"):
            response = requests.get(f"{down}/{path}", timeout=10)
            assert response.status_code == 503 and response.json()["detail"]
        assert get(f"{root(down)}/health").json() == {"status": "ok"}


def test_rate_limited_requests_get_429_with_retry_after():
    with running_api(replace(TEN_DAYS, rate_limit_rate=1.0, retry_after_s=3)) as limited:
        response = requests.get(f"{limited}/orders", timeout=10)
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


def outcomes(base_url: str, requests_made: int) -> list[int | str]:
    """Status code, or the exception's name, of each of a run of identical requests."""
    seen: list[int | str] = []
    for _ in range(requests_made):
        try:
            seen.append(requests.get(f"{base_url}/stores", timeout=10).status_code)
        except requests.RequestException as error:
            seen.append(type(error).__name__)
    return seen


def test_an_error_rate_with_a_fixed_seed_replays_the_same_faults():
    flaky = replace(TEN_DAYS, error_rate=0.5, fault_seed=11)
    with running_api(flaky) as first:
        run = outcomes(first, 40)
    with running_api(flaky) as second:
        again = outcomes(second, 40)
    with running_api(replace(flaky, fault_seed=12)) as third:
        other = outcomes(third, 40)

    assert run == again != other
    assert 8 <= run.count(200) <= 32
    assert {500, 502, 503} <= set(run)


def test_a_connection_reset_breaks_the_response_on_the_client():
    with running_api(replace(TEN_DAYS, error_rate=1.0)) as broken:
        run = outcomes(broken, 30)
    resets = [outcome for outcome in run if isinstance(outcome, str)]
    assert resets and set(resets) <= {"ChunkedEncodingError", "ConnectionError"}
    assert set(run) - set(resets) <= {500, 502, 503}


def test_latency_delays_data_requests_but_not_health():
    with running_api(replace(TEN_DAYS, latency_ms=300)) as slow:
        started = time.perf_counter()
        get(f"{slow}/products")
        data_s = time.perf_counter() - started
        started = time.perf_counter()
        get(f"{root(slow)}/health")
        health_s = time.perf_counter() - started
    assert data_s >= 0.3 > health_s


def test_info_tells_the_days_served(api):
    assert get(f"{root(api)}/info").json()["latest_day"] == "2024-01-10"
    with running_api(replace(TEN_DAYS, last_day=None)) as today:
        info = get(f"{root(today)}/info").json()
    assert info["latest_day"] == datetime.now(UTC).date().isoformat()
    assert info["first_day"] == "2024-01-01"


def test_the_docs_describe_every_endpoint(api):
    paths = get(f"{root(api)}/openapi.json").json()["paths"]
    for table in ("customers", "orders", "items", "products", "stores", "supplies"):
        assert f"/api/v1/{table}" in paths
    assert "/api/v1/products/{sku}" in paths and "/api/v1/row-counts" in paths
    assert get(f"{root(api)}/docs").status_code == 200


def test_malformed_orders_are_the_ones_the_pure_function_names_whatever_the_paging(api):
    faulty = replace(TEN_DAYS, malformed_rate=0.05, fault_seed=7)
    day = date(2024, 1, 3)
    with running_api(faulty) as faulty_url:
        served = orders_between(faulty_url, "2024-01-03", "2024-01-03")
        paged, _ = walk(
            faulty_url, "orders", start_date="2024-01-03", end_date="2024-01-03", page_size=7
        )
        counts = {r["table_name"]: r["row_count"] for r in get(f"{faulty_url}/row-counts").json()}
        everything, _ = walk(faulty_url, "orders", page_size=1000)
        again = orders_between(faulty_url, "2024-01-03", "2024-01-03")
    clean = orders_between(api, "2024-01-03", "2024-01-03")
    malformed = malformed_orders(faulty, day)

    assert paged == served == again and len(everything) == counts["orders"]
    assert {m.kind for m in malformed} <= set(KINDS) and len(malformed) == round(len(clean) * 0.05)
    # Served = the clean orders, each malformed one replaced, each duplicate followed by a copy.
    expected, by_id = [], {m.order_id: m.kind for m in malformed}
    for order in clean:
        kind = by_id.get(order["id"])
        expected.append(order if kind in (None, "duplicate_id") else kind)
        if kind == "duplicate_id":
            expected.append("copy")
    assert len(served) == len(expected)
    for position, (record, want) in enumerate(zip(served, expected, strict=True)):
        if isinstance(want, dict):
            assert record == want
        elif want == "copy":
            first = served[position - 1]
            assert record["id"] == first["id"] and record["subtotal"] != first["subtotal"]
        elif want == "missing_id":
            assert "id" not in record
        elif want == "unknown_sku":
            assert "JAF-999" in {item["sku"] for item in record["items"]}
        else:
            assert record != clean[[o["id"] for o in clean].index(record["id"])]


def test_a_revised_day_serves_the_same_orders_with_other_baskets_and_matching_totals(api):
    revised = replace(TEN_DAYS, revised_days=(date(2024, 1, 2),), revision=2)
    with running_api(revised) as revised_url:
        late = orders_between(revised_url, "2024-01-01", "2024-01-02")
        items, _ = walk(revised_url, "items", page_size=1000)
        counts = {r["table_name"]: r["row_count"] for r in get(f"{revised_url}/row-counts").json()}
        prices = {p["sku"]: p["price"] for p in get(f"{revised_url}/products").json()}
    original = orders_between(api, "2024-01-01", "2024-01-02")

    assert [o["id"] for o in late] == [o["id"] for o in original]
    changed = [o["id"] for o, before in zip(late, original, strict=True) if o != before]
    assert {o["ordered_at"][:10] for o in late if o["id"] in changed} == {"2024-01-02"}
    assert len(changed) > 0.5 * sum(o["ordered_at"].startswith("2024-01-02") for o in late)
    for order in late:
        assert order["subtotal"] == sum(prices[item["sku"]] for item in order["items"])
    assert len(items) == counts["items"]


def test_settings_are_read_from_environment_variables():
    settings = Settings.from_env(
        {
            "API_PORT": "9000",
            "JAFFLE_API_SEED": "5",
            "JAFFLE_API_ORDERS_PER_DAY": "1700",
            "JAFFLE_API_FIRST_DAY": "2023-06-01",
            "JAFFLE_API_ERROR_RATE": "0.25",
            "JAFFLE_API_OUTAGE": "true",
            "JAFFLE_API_RETRY_AFTER_S": "",
            "JAFFLE_API_MALFORMED_RATE": "0.02",
            "JAFFLE_API_REVISED_DAYS": "2024-03-02, 2024-03-01",
            "JAFFLE_API_REVISION": "3",
        }
    )
    assert settings.malformed_rate == 0.02 and settings.revision == 3
    assert settings.revised_days == (date(2024, 3, 1), date(2024, 3, 2))
    assert (settings.port, settings.seed, settings.orders_per_day) == (9000, 5, 1700)
    assert settings.first_day == date(2023, 6, 1) and settings.error_rate == 0.25
    assert settings.outage and settings.retry_after_s == 1 and settings.host == "127.0.0.1"
    assert Settings.from_env({}) == Settings()
    with pytest.raises(ValueError, match="error_rate"):
        Settings.from_env({"JAFFLE_API_ERROR_RATE": "2"})
    with pytest.raises(ValueError, match="malformed_rate"):
        Settings.from_env({"JAFFLE_API_MALFORMED_RATE": "1.5"})
    with pytest.raises(ValueError, match="JAFFLE_API_REVISED_DAYS"):
        Settings.from_env({"JAFFLE_API_REVISED_DAYS": "2024-03-02,tomorrow"})
    with pytest.raises(ValueError, match="JAFFLE_API_OUTAGE"):
        Settings.from_env({"JAFFLE_API_OUTAGE": "maybe"})
