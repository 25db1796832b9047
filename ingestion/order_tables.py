"""Pages of the API's orders as Arrow tables for `raw.orders` and `raw.orders__items`, with the
records that cannot be loaded set aside, each with the reason why, for `raw.dead_letter`.

dlt writes Arrow tables straight to parquet, skipping its row-by-row normalisation of dicts
(most of its time). The price is doing here what that step did: fixing the column types and
screening out records that do not fit. A clean page is converted column by column; only a page
that does not fit is walked record by record, to find the bad records and keep the others.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
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
_AMOUNTS = ("subtotal", "tax_paid", "order_total")
# What makes two copies of an order id the same order (besides their items).
_CONTENT_FIELDS = ("customer_id", "store_id", "ordered_at", *_AMOUNTS)
# What goes wrong converting Python values to Arrow (ArrowInvalid is a ValueError, ArrowTypeError
# a TypeError; an int beyond int64 is an OverflowError; a non-object has no `.get`).
_CONVERSION_ERRORS = (TypeError, ValueError, OverflowError, AttributeError)


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


class FirstCopies:
    """The orders already taken in a window: a 64-bit hash of each id, with a 64-bit hash of
    the content it came with, to tell a repeated copy (dropped) from a conflicting one.

    16 bytes an order in sorted numpy arrays (16 MB for a year at 16x the public volume, ~1M
    orders), where a dict of the ids would take ~150 MB. The arrays are levels of halving size,
    merged when a new one outgrows the last, so adding a page costs O(page log n) amortised.
    Python's `hash` is salted per process, which is fine for a set that lives one run.
    """

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._levels)

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + values.nbytes for keys, values in self._levels)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key: was it taken, and the content hash it was taken with."""
        found = np.zeros(len(keys), dtype=bool)
        contents = np.zeros(len(keys), dtype=np.int64)
        for level_keys, level_values in self._levels:
            positions = np.minimum(np.searchsorted(level_keys, keys), len(level_keys) - 1)
            hit = level_keys[positions] == keys
            found |= hit
            contents[hit] = level_values[positions[hit]]
        return found, contents

    def add(self, keys: np.ndarray, contents: np.ndarray) -> None:
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        keys, contents = keys[order], contents[order]
        while self._levels and len(self._levels[-1][0]) <= len(keys):
            level_keys, level_values = self._levels.pop()
            keys = np.concatenate((level_keys, keys))
            contents = np.concatenate((level_values, contents))
            order = np.argsort(keys, kind="stable")
            keys, contents = keys[order], contents[order]
        self._levels.append((keys, contents))


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
            orders, items, item_parents, parents, fields = _convert(records)
            fits = self._fits(orders, items, item_parents)
        except _CONVERSION_ERRORS:
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
            orders, items, item_parents, parents, fields = _convert(records)
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
            for name in _AMOUNTS:
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
        for name in _AMOUNTS:
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
        contents = _content_hashes(fields, items, parents)
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


def _convert(records: list) -> tuple[pa.Table, pa.Table, pa.Array, np.ndarray, dict[str, list]]:
    """The orders, their items, for each item the id and the position of the order it was
    listed in, and the records' fields as lists (read once, reused for the content hashes)."""
    fields: dict[str, list] = {}

    def values(name: str) -> list:
        fields[name] = [record.get(name) for record in records]
        return fields[name]

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
    parents = pc.list_parent_indices(nested)
    item_parents = pc.take(orders["id"], parents)
    return orders, items, item_parents, parents.to_numpy().astype(np.intp), fields


def _content_hashes(fields: dict[str, list], items: pa.Table, parents: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each order's fields and of its basket (items in any order), built with
    `map` and numpy rather than a Python function per order (~3x faster)."""
    columns = [fields[name] for name in _CONTENT_FIELDS]
    own = np.fromiter(map(hash, zip(*columns, strict=True)), np.int64, len(fields["id"]))
    pairs = zip(items["id"].to_pylist(), items["sku"].to_pylist(), strict=True)
    item_hashes = np.fromiter(map(hash, pairs), np.int64, items.num_rows)
    basket = np.zeros(len(own), np.uint64)
    np.add.at(basket, parents, item_hashes.view(np.uint64))  # wraps around, as a hash may
    return (own.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + basket).view(np.int64)


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
    except _CONVERSION_ERRORS:
        return None
    return naive.cast(pa.timestamp("us", tz="UTC"))[0].as_py()
