"""The jaffle-shop API as a dlt source.

Orders are the only data that grows with time, so they are fetched per window of days (the
API's `start_date`/`end_date`, both inclusive) and merged on their key: re-loading a window
replaces it. They reach dlt as Arrow tables, a few pages at a time, which dlt writes straight to
parquet. Records that cannot be loaded go to `raw.dead_letter` in the same load (see
`ingestion.dead_letter`), unless they are more than `max_rejected_share` of the window: then
the run fails and nothing of the window is loaded. The reference endpoints are small, fetched
whole, and stay declarative `rest_api` resources.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dlt
from dlt.common.jsonpath import compile_path
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from dlt.sources.rest_api import rest_api_resources

from ingestion import dead_letter
from ingestion.window_pages import window_pages

if TYPE_CHECKING:
    import pyarrow as pa

    from ingestion.order_tables import Rejected, Window

ORDERS = "orders"
ORDER_ITEMS = "orders__items"
REFERENCE_RESOURCES = ("customers", "products", "stores", "supplies")

# Primary keys per table. `supplies.id` repeats across products: its key is (id, sku).
PRIMARY_KEYS: dict[str, str | list[str]] = {
    "orders": "id",
    "orders__items": "id",
    "customers": "id",
    "products": "sku",
    "stores": "id",
    "supplies": ["id", "sku"],
}

# Orders gathered before handing them to dlt: each hand-over costs dlt a schema comparison and
# a parquet row group, ~40% more CPU when done per 1,000-order page. 20,000 orders and their
# items are a few MB of Arrow, however long the window.
_ORDERS_PER_BATCH = 20_000
# The page is the response body itself; compiled once, as dlt would parse "$" for every page.
_WHOLE_BODY = compile_path("$")
# Reasons quoted in the error when a window has too many rejected records.
_REASONS_IN_ERROR = 5
DEFAULT_MAX_REJECTED_SHARE = 0.01


class RejectedShareError(ValueError):
    """Too large a share of a window's records was rejected: the window is not loaded at all."""


def jaffle_shop_source(
    base_url: str,
    first_day: dt.date,
    last_day: dt.date,
    page_size: int = 1000,
    resources: tuple[str, ...] = (ORDERS, *REFERENCE_RESOURCES),
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
) -> dlt.sources.DltSource:
    """Build the source for orders placed from `first_day` to `last_day`, both inclusive.

    Building it touches no network; the requests happen when a pipeline runs it.
    """
    for name, day in (("first_day", first_day), ("last_day", last_day)):
        # Only a date may reach the request's query string (a datetime would add a time).
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise TypeError(f"{name} must be a datetime.date, not {day!r}")
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    unknown = sorted(set(resources) - {ORDERS, *REFERENCE_RESOURCES})
    if unknown:
        raise ValueError(
            f"unknown resources {unknown}: choose from {ORDERS}, {REFERENCE_RESOURCES}"
        )
    return _jaffle_shop(
        base_url.rstrip("/"), first_day, last_day, page_size, tuple(resources), max_rejected_share
    )


@dlt.source(name="jaffle_shop")
def _jaffle_shop(
    base_url: str,
    first_day: dt.date,
    last_day: dt.date,
    page_size: int,
    resources: tuple[str, ...],
    max_rejected_share: float,
) -> list:
    selected = []
    if ORDERS in resources:
        selected.append(
            _orders_with_items(base_url, first_day, last_day, page_size, max_rejected_share)
        )
    reference = [name for name in resources if name in REFERENCE_RESOURCES]
    if reference:
        selected.extend(_reference_resources(base_url, page_size, reference))
    return selected


@dlt.resource(name=ORDERS, primary_key=PRIMARY_KEYS[ORDERS], write_disposition="merge")
def orders(
    base_url: str,
    first_day: dt.date,
    last_day: dt.date,
    page_size: int,
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
) -> Iterator:
    """The window's orders and their items, as `orders` and `orders__items` Arrow tables, and
    the records set aside as `dead_letter` rows.

    Fetched a week per request, a few weeks in flight (`ingestion.window_pages`), and handed
    to dlt in batches: memory holds those weeks and one batch, whatever the window. When the
    window's rejected share is above `max_rejected_share`, the resource raises after its last
    page, and dlt loads nothing of a run whose extract failed: neither orders nor dead letters.
    """
    # Imported on the first `next()`, like the client below is built: loading the code location
    # builds this source for its asset specs, and needs no Arrow for that (~0.3 s of import).
    from ingestion.order_tables import OrderScreen, Window
    from ingestion.rejected_rows import day_markers

    # Built on the first `next()`, so that building the source opens no session. dlt's client
    # retries 5xx, 429 (honouring Retry-After) and dropped connections with backoff.
    client = RESTClient(base_url=base_url, paginator=HeaderLinkPaginator())
    window = Window(first_day, last_day)
    screen = OrderScreen(window, _product_skus(client, page_size))
    rejected_at = dt.datetime.now(dt.UTC)
    # The first batch also carries the markers that clear the window's old dead letters.
    letters = [day_markers(window, rejected_at, dead_letter.ORDERS_SOURCE)]
    batch: list[tuple[pa.Table, pa.Table]] = []
    batched, first_reasons = 0, []
    fetch = functools.partial(_order_pages, base_url, page_size)
    for page in window_pages(fetch, first_day, last_day):
        orders, items, rejected = screen.screen(page, page.response.url)
        batch.append((orders, items))
        letters.append(_letters(rejected, window, rejected_at))
        first_reasons += [r.reason for r in rejected][: _REASONS_IN_ERROR - len(first_reasons)]
        batched += len(page)
        if batched >= _ORDERS_PER_BATCH:
            yield from _as_tables(batch, letters)
            batch, letters, batched = [], [], 0
    if batch or letters:  # also a window without orders: its empty tables create raw's tables
        yield from _as_tables(batch, letters)
    if screen.seen and screen.rejected / screen.seen > max_rejected_share:
        raise RejectedShareError(
            rejected_share_message(screen.rejected, screen.seen, window, max_rejected_share)
            + " First reasons: "
            + " | ".join(first_reasons)
        )


def rejected_share_message(rejected: int, seen: int, window: Window, limit: float) -> str:
    """E.g. "12 of 170 orders (7.1%) for 2024-03-01..2024-03-01 were rejected, above ..."."""
    return (
        f"{rejected} of {seen} orders ({rejected / seen:.1%}) for {window} were rejected, above "
        f"MAX_REJECTED_SHARE={limit * 100:g}%: nothing of the window was loaded, so "
        "raw.dead_letter does not hold them either. Fix the source (or raise the setting) and "
        "re-run the window."
    )


def rejected_share_error(error: BaseException | None) -> RejectedShareError | None:
    """The `RejectedShareError` behind `error` (dlt wraps it in PipelineStepFailed), if any."""
    while error is not None:
        if isinstance(error, RejectedShareError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _order_pages(base_url: str, page_size: int, first_day: dt.date, last_day: dt.date) -> list:
    """Every page of the orders placed first_day..last_day (inclusive), in order. Called from
    worker threads: each call has its own client, as a requests session is not shared."""
    client = RESTClient(base_url=base_url, paginator=HeaderLinkPaginator())
    params = {
        "start_date": first_day.isoformat(),
        "end_date": last_day.isoformat(),
        "page_size": page_size,
    }
    return list(client.paginate(ORDERS, params=params, data_selector=_WHOLE_BODY))


def _product_skus(client: RESTClient, page_size: int) -> frozenset[str]:
    """The skus of the API's products: an item naming another one is rejected. Ten rows."""
    return frozenset(
        product["sku"]
        for page in client.paginate("products", params={"page_size": page_size})
        for product in page
    )


def _letters(rejected: list[Rejected], window: Window, rejected_at: dt.datetime) -> pa.Table:
    from ingestion.rejected_rows import dead_letter_table

    return dead_letter_table(rejected, window, rejected_at, dead_letter.ORDERS_SOURCE)


def _as_tables(batch: list[tuple[pa.Table, pa.Table]], letters: list[pa.Table]) -> Iterator:
    import pyarrow as pa

    if batch:
        yield pa.concat_tables(orders for orders, _ in batch)
        yield dlt.mark.with_table_name(pa.concat_tables(items for _, items in batch), ORDER_ITEMS)
    if letters:
        table = pa.concat_tables(letters)
        if table.num_rows:
            yield dlt.mark.with_table_name(table, dead_letter.DEAD_LETTER)


def _orders_with_items(
    base_url: str,
    first_day: dt.date,
    last_day: dt.date,
    page_size: int,
    max_rejected_share: float,
) -> dlt.sources.DltResource:
    resource = orders(base_url, first_day, last_day, page_size, max_rejected_share)
    # The items are a second table of the same resource, as one request feeds both; their hints
    # are stated once here rather than on every batch. Keyed on the item's own id and merged on
    # `order_id`: re-loading an order replaces all its items, so an item removed at the source
    # does not linger in raw.
    resource.apply_hints(
        table_name=ORDER_ITEMS,
        primary_key=PRIMARY_KEYS[ORDER_ITEMS],
        merge_key="order_id",
        write_disposition="merge",
        create_table_variant=True,
    )
    resource.apply_hints(primary_key=[], create_table_variant=True, **dead_letter.HINTS)
    return resource


def _reference_resources(base_url: str, page_size: int, names: list[str]) -> list:
    return rest_api_resources(
        {
            "client": {"base_url": base_url + "/", "paginator": "header_link"},
            "resource_defaults": {
                "write_disposition": "merge",
                "endpoint": {"params": {"page_size": page_size}},
            },
            "resources": [
                {"name": name, "primary_key": PRIMARY_KEYS[name], "endpoint": {"path": name}}
                for name in names
            ],
        }
    )
