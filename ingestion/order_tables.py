"""Pages of the API's orders as Arrow tables for `raw.orders` and `raw.orders__items`, with the
records that cannot be loaded set aside, each with the reason why, for `raw.dead_letter`.

dlt writes Arrow tables straight to parquet, skipping its row-by-row normalisation of dicts
(most of its time). The price is doing here what that step did: fixing the column types and
screening out records that do not fit. A clean page is converted column by column; only a page
that does not fit is walked record by record, to find the bad records and keep the others.
The column-wise conversion lives in `order_columns.py`, the index of the orders already taken
in `first_copies.py`; this module holds the rules and the screen that applies them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.first_copies import FirstCopies, content_hashes
from ingestion.order_columns import (
    AMOUNTS,
    CONVERSION_ERRORS,
    ITEMS_SCHEMA,
    ORDERS_SCHEMA,
    convert_page,
)

# Without these a row cannot be merged, placed in its window or joined to its order.
_REQUIRED_ORDER_FIELDS = ("id", "ordered_at")
_REQUIRED_ITEM_FIELDS = ("id", "order_id")


class MalformedRecordError(ValueError):
    """A record the API served cannot be loaded as it is; `kind` says which rule it breaks."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


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


@dataclass(frozen=True)
class Rejected:
    """A record set aside: why, where it came from, and the record itself as JSON."""

    kind: str
    reason: str
    page_url: str
    payload: str
    # The day of the window it is filed under: its own when readable, else the window's first.
    day: dt.date


class OrderScreen:
    """Screens the pages of one window: valid orders go on to the Arrow tables, malformed ones
    become `Rejected`, and a later copy of an order id is dropped (same content) or rejected
    (other content), keeping the first."""

    def __init__(self, window: Window, known_skus: frozenset[str]):
        self.window = window
        self.known_skus = known_skus
        self._known = pa.array(sorted(known_skus), pa.string())
        self.first_copies = FirstCopies()
        self.seen = 0
        self.rejected = 0
        self.dropped_copies = 0

    def screen(self, records: list, page_url: str) -> tuple[pa.Table, pa.Table, list[Rejected]]:
        """A page's valid orders and items as tables with `ORDERS_SCHEMA` and `ITEMS_SCHEMA`,
        and its rejected records. Nothing is coerced: a fraction, a bool or a numeric string
        where an integer belongs is rejected."""
        self.seen += len(records)
        rejected: list[Rejected] = []
        try:
            orders, items, item_parents, parents, fields = convert_page(records)
            fits = self._fits(orders, items, item_parents)
        except CONVERSION_ERRORS:
            fits = False
        if not fits:
            # The slow path, for pages with errors only: find the bad records, keep the rest.
            valid = []
            for position, record in enumerate(records, start=1):
                try:
                    self._check_record(record, position, page_url)
                except MalformedRecordError as error:
                    rejected.append(self._reject(record, error.kind, str(error), page_url))
                else:
                    valid.append(record)
            records = valid
            orders, items, item_parents, parents, fields = convert_page(records)
        orders, items, duplicates = self._drop_later_copies(records, orders, items, parents, fields)
        rejected += [
            self._reject(
                record,
                "duplicate_id",
                f"The {_label(record, position, page_url)} repeats the id of an order already "
                "taken in this window, with other content; the first copy was kept.",
                page_url,
            )
            for position, record in duplicates
        ]
        self.rejected += len(rejected)
        return orders, items, rejected

    def _fits(self, orders: pa.Table, items: pa.Table, item_parents: pa.Array) -> bool:
        """Every rule of `_check_record`, column-wise."""
        for table, required in ((orders, _REQUIRED_ORDER_FIELDS), (items, _REQUIRED_ITEM_FIELDS)):
            if any(table[name].null_count for name in required):
                return False
        if items.num_rows:
            if not pc.all(pc.equal(items["order_id"], item_parents)).as_py():
                return False
            if not pc.all(pc.is_in(items["sku"], value_set=self._known)).as_py():
                return False
        if orders.num_rows:
            for name in AMOUNTS:
                if (pc.min(orders[name]).as_py() or 0) < 0:
                    return False
            bounds = pc.min_max(orders["ordered_at"]).as_py()
            return bounds["min"] in self.window and bounds["max"] in self.window
        return True

    def _check_record(self, order: object, position: int, page_url: str) -> None:
        """Raise `MalformedRecordError` for the first rule `order` breaks."""
        if not isinstance(order, dict):
            raise MalformedRecordError(
                "not_an_object",
                f"Record {position} on page {page_url} is not an order object: {order!r}.",
            )
        label = _label(order, position, page_url)
        _check_fields(order, ORDERS_SCHEMA, _REQUIRED_ORDER_FIELDS, label)
        if _parse_timestamp(order["ordered_at"]) not in self.window:
            raise MalformedRecordError(
                "outside_window",
                f"The {label}: field 'ordered_at' is {order['ordered_at']!r}, outside the "
                f"requested days {self.window}.",
            )
        for name in AMOUNTS:
            if (order.get(name) or 0) < 0:
                raise MalformedRecordError(
                    "negative_amount",
                    f"The {label}: field {name!r} is {order[name]!r}, a negative amount.",
                )
        self._check_items(order, label)

    def _check_items(self, order: dict, label: str) -> None:
        items = order.get("items")
        if items is None:
            return  # an order without items loads with none
        if not isinstance(items, list):
            raise MalformedRecordError(
                "wrong_type", f"The {label}: field 'items' is {items!r}, not a list."
            )
        for position, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise MalformedRecordError(
                    "wrong_type",
                    f"Item {position} of the {label} is not an item object: {item!r}.",
                )
            item_id = item.get("id")
            name = (
                f"item {item_id!r}" if isinstance(item_id, str) else f"item at position {position}"
            )
            item_label = f"{name} of the {label}"
            _check_fields(item, ITEMS_SCHEMA, _REQUIRED_ITEM_FIELDS, item_label)
            if item["order_id"] != order["id"]:
                raise MalformedRecordError(
                    "item_order_mismatch",
                    f"The {item_label}: field 'order_id' is {item['order_id']!r}, not the id of "
                    "the order it is listed in.",
                )
            if item.get("sku") is not None and item["sku"] not in self.known_skus:
                raise MalformedRecordError(
                    "unknown_sku",
                    f"The {item_label}: field 'sku' is {item['sku']!r}, not a product of the "
                    "API's /products.",
                )

    def _drop_later_copies(
        self,
        records: list,
        orders: pa.Table,
        items: pa.Table,
        parents: np.ndarray,
        fields: dict[str, list],
    ) -> tuple[pa.Table, pa.Table, list[tuple[int, dict]]]:
        """Keep the first copy of each order id in the window; return the conflicting copies."""
        if not orders.num_rows:
            return orders, items, []
        keys = np.fromiter(map(hash, fields["id"]), np.int64, orders.num_rows)
        contents = content_hashes(fields, items, parents)
        taken, taken_contents = self.first_copies.lookup(keys)
        unique_keys, first_in_page = np.unique(keys, return_index=True)
        is_first = np.zeros(len(keys), dtype=bool)
        is_first[first_in_page] = True
        keep = is_first & ~taken
        if keep.all():
            self.first_copies.add(keys, contents)
            return orders, items, []
        # The content each later copy is compared with: the earlier page's, or this page's first.
        page_first = contents[first_in_page[np.searchsorted(unique_keys, keys)]]
        first_contents = np.where(taken, taken_contents, page_first)
        conflicting = ~keep & (contents != first_contents)
        self.dropped_copies += int((~keep & ~conflicting).sum())
        self.first_copies.add(keys[keep], contents[keep])
        item_keep = pa.array(keep[parents])
        duplicates = [(int(i) + 1, records[i]) for i in np.flatnonzero(conflicting)]
        return orders.filter(pa.array(keep)), items.filter(item_keep), duplicates

    def _reject(self, record: object, kind: str, reason: str, page_url: str) -> Rejected:
        return Rejected(
            kind=kind,
            reason=reason,
            page_url=page_url,
            payload=json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=repr),
            day=self._day_of(record),
        )

    def _day_of(self, record: object) -> dt.date:
        moment = _parse_timestamp(record.get("ordered_at")) if isinstance(record, dict) else None
        if moment is not None and moment in self.window:
            return moment.date()
        return self.window.first_day


def _label(order: dict, position: int, page_url: str) -> str:
    order_id = order.get("id")
    name = f"order {order_id!r}" if isinstance(order_id, str) else f"order at position {position}"
    return f"{name} (page {page_url})"


def _check_fields(record: dict, schema: pa.Schema, required: tuple[str, ...], label: str) -> None:
    for field in schema:
        value = record.get(field.name)
        if value is None:
            if field.name in required:
                raise MalformedRecordError(
                    "missing_field", f"The {label}: required field {field.name!r} is missing."
                )
            continue
        if pa.types.is_string(field.type):
            expected, fits = "a string", isinstance(value, str)
        elif pa.types.is_integer(field.type):
            expected, fits = "an integer", type(value) is int and -(2**63) <= value < 2**63
        else:
            expected, fits = "a naive UTC ISO timestamp", _parse_timestamp(value) is not None
        if not fits:
            kind = "bad_timestamp" if pa.types.is_timestamp(field.type) else "wrong_type"
            raise MalformedRecordError(
                kind, f"The {label}: field {field.name!r} is {value!r}, expected {expected}."
            )


def _parse_timestamp(value: object) -> dt.datetime | None:
    """`value` read as the fast path reads it (Arrow's ISO 8601 cast, taken as UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        naive = pc.cast(pa.array([value]), pa.timestamp("us"))
    except CONVERSION_ERRORS:
        return None
    return naive.cast(pa.timestamp("us", tz="UTC"))[0].as_py()
