"""Malformed orders on demand: which of a day's orders are served broken, and how.

Decided per day from the fault seed alone, so the same records are broken whatever the requests,
their order or their paging; tests ask `order_book.malformed_orders` which ones to expect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from jaffle_api.keys import seeded_rng

# Cycled over a day's malformed orders, starting at an offset that moves with the day, so a
# week at one malformed order a day shows every kind.
KINDS = (
    "missing_id",
    "text_number",
    "unparseable_timestamp",
    "impossible_timestamp",
    "negative_amount",
    "unknown_sku",
    "duplicate_id",
)
# The kind that adds a record (a second copy of an order) rather than replacing one.
DUPLICATE = "duplicate_id"
UNKNOWN_SKU = "JAF-999"


@dataclass(frozen=True)
class MalformedOrder:
    """One malformed record of a day: `order_id` is the id of the generated order it replaces
    (or, for a duplicate, the order whose id it reuses; that first copy stays valid)."""

    position: int  # the generated order's index in the day's serving order
    order_id: str
    kind: str


def malformed_plan(order_count: int, rate: float, fault_seed: int, day: date) -> list[tuple]:
    """(position, kind) of the malformed orders among a day's `order_count` generated ones."""
    count = min(order_count, round(order_count * rate))
    if not count:
        return []
    rng = seeded_rng(fault_seed, "malformed", day.isoformat())
    positions = sorted(rng.sample(range(order_count), count))
    offset = day.toordinal()
    return [(p, KINDS[(offset + j) % len(KINDS)]) for j, p in enumerate(positions)]


def duplicates_in_plan(order_count: int, rate: float, fault_seed: int, day: date) -> int:
    """Extra records a day serves: its volume is known without generating its rows."""
    return sum(kind == DUPLICATE for _, kind in malformed_plan(order_count, rate, fault_seed, day))


def break_order(record: bytes, kind: str) -> list[bytes]:
    """The records served in place of a valid order `record` for a malformed `kind`: one for
    most kinds, the valid order and a conflicting copy for a duplicate."""
    order = json.loads(record)
    if kind == "missing_id":
        del order["id"]
    elif kind == "text_number":
        order["subtotal"] = f"{order['subtotal'] / 100}x"  # e.g. "12.5x"
    elif kind == "unparseable_timestamp":
        day, clock = order["ordered_at"].split("T")
        order["ordered_at"] = f"{day[8:10]}/{day[5:7]}/{day[:4]} {clock[:5]}"  # 01/03/2024 08:15
    elif kind == "impossible_timestamp":
        order["ordered_at"] = f"{order['ordered_at'][:4]}-02-30{order['ordered_at'][10:]}"
    elif kind == "negative_amount":
        order["subtotal"] = -order["subtotal"]
        order["order_total"] = order["subtotal"] + order["tax_paid"]
    elif kind == "unknown_sku":
        order["items"][0]["sku"] = UNKNOWN_SKU
    elif kind == DUPLICATE:
        copy = dict(order, subtotal=order["subtotal"] + 100, order_total=order["order_total"] + 100)
        return [record, _dumps(copy)]
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return [_dumps(order)]


def _dumps(record: dict) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()
