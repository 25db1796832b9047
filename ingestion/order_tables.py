"""Pages of the API's orders as Arrow tables for `raw.orders` and `raw.orders__items`.

dlt writes Arrow tables straight to parquet, skipping its row-by-row normalisation of dicts
(most of its time). The price is doing here what that step did: fixing the column types and
refusing records that do not fit, with a message that names the record and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

# The columns dbt reads. Declared rather than inferred, so that an empty page or a null cannot
# change a column's type.
ORDERS_SCHEMA = pa.schema(
    [
        # Not null, like dlt's primary-key column; `_fits` checks it on every page.
        pa.field("id", pa.string(), nullable=False),
        ("customer_id", pa.string()),
        ("store_id", pa.string()),
        # The API sends naive UTC ("2024-03-01T08:15:02"), stored as timestamptz in UTC.
        ("ordered_at", pa.timestamp("us", tz="UTC")),
        ("subtotal", pa.int64()),
        ("tax_paid", pa.int64()),
        ("order_total", pa.int64()),
    ]
)
ITEMS_SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), ("order_id", pa.string()), ("sku", pa.string())]
)
_ITEM = pa.struct(list(ITEMS_SCHEMA))
# Without these a row cannot be merged, placed in its window or joined to its order.
_REQUIRED_ORDER_FIELDS = ("id", "ordered_at")
_REQUIRED_ITEM_FIELDS = ("id", "order_id")
# What goes wrong converting Python values to Arrow (ArrowInvalid is a ValueError, ArrowTypeError
# a TypeError; an int beyond int64 is an OverflowError; a non-object has no `.get`).
_CONVERSION_ERRORS = (TypeError, ValueError, OverflowError, AttributeError)


class MalformedRecordError(ValueError):
    """A record the API served cannot be loaded as it is. The message names the record, the
    field and the page; it is raised before the page is handed to dlt, so nothing of the
    window is loaded."""


@dataclass(frozen=True)
class Window:
    """Days first..last, both included, as the UTC instants `ordered_at` must fall between."""

    first_day: dt.date
    last_day: dt.date

    def __contains__(self, moment: dt.datetime) -> bool:
        start = dt.datetime.combine(self.first_day, dt.time(), dt.UTC)
        end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), dt.UTC)
        return start <= moment < end

    def __str__(self) -> str:
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"


def order_tables(records: list, page_url: str, window: Window) -> tuple[pa.Table, pa.Table]:
    """A page's orders and their items as Arrow tables with `ORDERS_SCHEMA` and `ITEMS_SCHEMA`.

    Converted column by column, which is fast; if anything does not fit, the page is walked
    record by record to raise a `MalformedRecordError` for the first bad one. Nothing is
    coerced: a fraction, a bool or a numeric string where an integer belongs fails.
    """
    try:
        orders, items, item_parents = _convert(records)
        fits = _fits(orders, items, item_parents, window)
    except _CONVERSION_ERRORS as error:
        _raise_for_first_malformed(records, page_url, window)
        raise MalformedRecordError(f"Page {page_url} cannot be loaded: {error}") from error
    if not fits:
        _raise_for_first_malformed(records, page_url, window)
        raise MalformedRecordError(f"Page {page_url} cannot be loaded.")
    return orders, items


def _convert(records: list) -> tuple[pa.Table, pa.Table, pa.Array]:
    """The orders, their items, and for each item the id of the order it was listed in."""

    def values(name: str) -> list:
        return [record.get(name) for record in records]

    def integers(name: str) -> pa.Array:
        # Inferred, then checked: asked for int64 outright, Arrow would truncate 12.5 to 12.
        array = pa.array(values(name))
        if pa.types.is_null(array.type):
            return array.cast(pa.int64())
        if array.type != pa.int64():
            raise TypeError(f"{name} holds {array.type}, not integers")
        return array

    ordered_at = pc.cast(pa.array(values("ordered_at"), pa.string()), pa.timestamp("us"))
    orders = pa.Table.from_arrays(
        [
            pa.array(values("id"), pa.string()),
            pa.array(values("customer_id"), pa.string()),
            pa.array(values("store_id"), pa.string()),
            # Arrow keeps instants in UTC, so calling the naive values UTC is only a relabel.
            ordered_at.cast(pa.timestamp("us", tz="UTC")),
            integers("subtotal"),
            integers("tax_paid"),
            integers("order_total"),
        ],
        schema=ORDERS_SCHEMA,
    )
    nested = pa.array(values("items"), pa.list_(_ITEM))
    # StructArray.flatten(), unlike .field(), carries a null item into each of its fields.
    items = pa.Table.from_arrays(nested.flatten().flatten(), schema=ITEMS_SCHEMA)
    item_parents = pc.take(orders["id"], pc.list_parent_indices(nested))
    return orders, items, item_parents


def _fits(orders: pa.Table, items: pa.Table, item_parents: pa.Array, window: Window) -> bool:
    """Required fields present, each item under the order it names, every order in the window."""
    for table, required in ((orders, _REQUIRED_ORDER_FIELDS), (items, _REQUIRED_ITEM_FIELDS)):
        if any(table[name].null_count for name in required):
            return False
    if items.num_rows and not pc.all(pc.equal(items["order_id"], item_parents)).as_py():
        return False
    if orders.num_rows:
        bounds = pc.min_max(orders["ordered_at"]).as_py()
        return bounds["min"] in window and bounds["max"] in window
    return True


def _raise_for_first_malformed(records: list, page_url: str, window: Window) -> None:
    """Walk the page and raise for the first record that does not fit: slow, for errors only."""
    for position, order in enumerate(records, start=1):
        if not isinstance(order, dict):
            raise MalformedRecordError(
                f"Record {position} on page {page_url} is not an order object: {order!r}."
            )
        order_id = order.get("id")
        name = (
            f"order {order_id!r}" if isinstance(order_id, str) else f"order at position {position}"
        )
        label = f"{name} (page {page_url})"
        _check_fields(order, ORDERS_SCHEMA, _REQUIRED_ORDER_FIELDS, label)
        if _parse_timestamp(order["ordered_at"]) not in window:
            raise MalformedRecordError(
                f"The {label}: field 'ordered_at' is {order['ordered_at']!r}, outside the "
                f"requested days {window}."
            )
        _check_items(order, label)


def _check_items(order: dict, label: str) -> None:
    items = order.get("items")
    if items is None:
        return  # an order without items loads with none
    if not isinstance(items, list):
        raise MalformedRecordError(f"The {label}: field 'items' is {items!r}, not a list.")
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise MalformedRecordError(
                f"Item {position} of the {label} is not an item object: {item!r}."
            )
        item_id = item.get("id")
        name = f"item {item_id!r}" if isinstance(item_id, str) else f"item at position {position}"
        item_label = f"{name} of the {label}"
        _check_fields(item, ITEMS_SCHEMA, _REQUIRED_ITEM_FIELDS, item_label)
        if item["order_id"] != order["id"]:
            raise MalformedRecordError(
                f"The {item_label}: field 'order_id' is {item['order_id']!r}, not the id of "
                "the order it is listed in."
            )


def _check_fields(record: dict, schema: pa.Schema, required: tuple[str, ...], label: str) -> None:
    for field in schema:
        value = record.get(field.name)
        if value is None:
            if field.name in required:
                raise MalformedRecordError(
                    f"The {label}: required field {field.name!r} is missing."
                )
            continue
        if pa.types.is_string(field.type):
            expected, fits = "a string", isinstance(value, str)
        elif pa.types.is_integer(field.type):
            expected, fits = "an integer", type(value) is int and -(2**63) <= value < 2**63
        else:
            expected, fits = "a naive UTC ISO timestamp", _parse_timestamp(value) is not None
        if not fits:
            raise MalformedRecordError(
                f"The {label}: field {field.name!r} is {value!r}, expected {expected}."
            )


def _parse_timestamp(value: object) -> dt.datetime | None:
    """`value` read as the fast path reads it (Arrow's ISO 8601 cast, taken as UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        naive = pc.cast(pa.array([value]), pa.timestamp("us"))
    except _CONVERSION_ERRORS:
        return None
    return naive.cast(pa.timestamp("us", tz="UTC"))[0].as_py()
