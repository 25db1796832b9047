"""The jaffle-shop API as a dlt `rest_api` source.

Orders are the only data that grows with time, so they are fetched per window of days (the
API's `start_date`/`end_date`, both inclusive) and merged on their key: re-loading a window
replaces it. The reference endpoints are small and fetched whole.
"""

from __future__ import annotations

import datetime as dt

import dlt
from dlt.sources.rest_api import rest_api_source

ORDERS = "orders"
REFERENCE_RESOURCES = ("customers", "products", "stores", "supplies")

# Primary keys per resource. `supplies.id` repeats across products: its key is (id, sku).
PRIMARY_KEYS: dict[str, str | list[str]] = {
    "orders": "id",
    "customers": "id",
    "products": "sku",
    "stores": "id",
    "supplies": ["id", "sku"],
}


def _resource(name: str, params: dict[str, str] | None = None) -> dict:
    return {
        "name": name,
        "primary_key": PRIMARY_KEYS[name],
        "write_disposition": "merge",
        "endpoint": {"path": name, "params": params or {}},
    }


def jaffle_shop_source(
    base_url: str,
    first_day: dt.date,
    last_day: dt.date,
    page_size: int = 1000,
    resources: tuple[str, ...] = (ORDERS, *REFERENCE_RESOURCES),
) -> dlt.sources.DltSource:
    """Build the source for orders placed from `first_day` to `last_day`, both inclusive.

    Building it touches no network; the requests happen when a pipeline runs it.
    """
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    order_window = {"start_date": first_day.isoformat(), "end_date": last_day.isoformat()}
    return rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/",
                "paginator": "header_link",
            },
            "resource_defaults": {"endpoint": {"params": {"page_size": page_size}}},
            "resources": [
                _resource(name, order_window if name == ORDERS else None) for name in resources
            ],
        },
        name="jaffle_shop",
    )
