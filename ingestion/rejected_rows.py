"""The rows of `raw.dead_letter` as Arrow tables: the rejected records, and the per-day markers
that clear a window's old dead letters (see `ingestion.dead_letter`).

Apart from `ingestion.dead_letter` so that loading the code location, which builds the dlt
source for its asset specs, imports no Arrow: only a running load needs these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa

from ingestion.order_tables import Rejected, Window

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),  # e.g. "jaffle_shop/orders"
        ("window_start", pa.date32()),  # the days requested by the load that set it aside
        ("window_end", pa.date32()),
        # The day it is filed under: its own, or the window's first when it has no readable one.
        pa.field("day", pa.date32(), nullable=False),
        ("kind", pa.string()),  # the rule it broke: missing_field, wrong_type, duplicate_id, ...
        ("reason", pa.string()),  # a sentence naming the record, the field and the value
        ("page_url", pa.string()),
        ("payload", pa.string()),  # the record as the API sent it, as JSON
        ("rejected_at", pa.timestamp("us", tz="UTC")),
        # True only on the per-day markers, which never reach the table (see the docstring).
        ("clears_day", pa.bool_()),
    ]
)


def dead_letter_table(
    rejected: Sequence[Rejected], window: Window, rejected_at: dt.datetime, source: str
) -> pa.Table:
    """The rejected records as rows of `raw.dead_letter`."""
    count = len(rejected)
    return pa.Table.from_pydict(
        {
            "source": [source] * count,
            "window_start": [window.first_day] * count,
            "window_end": [window.last_day] * count,
            "day": [r.day for r in rejected],
            "kind": [r.kind for r in rejected],
            "reason": [r.reason for r in rejected],
            "page_url": [r.page_url for r in rejected],
            "payload": [r.payload for r in rejected],
            "rejected_at": [rejected_at] * count,
            "clears_day": [None] * count,
        },
        schema=DEAD_LETTER_SCHEMA,
    )


def day_markers(window: Window, rejected_at: dt.datetime, source: str) -> pa.Table:
    """One `clears_day` row per day of the window: the load replaces these days' rows."""
    days = [
        window.first_day + dt.timedelta(days=n)
        for n in range((window.last_day - window.first_day).days + 1)
    ]
    count = len(days)
    return pa.Table.from_pydict(
        {
            "source": [source] * count,
            "window_start": [window.first_day] * count,
            "window_end": [window.last_day] * count,
            "day": days,
            "kind": [None] * count,
            "reason": [None] * count,
            "page_url": [None] * count,
            "payload": [None] * count,
            "rejected_at": [rejected_at] * count,
            "clears_day": [True] * count,
        },
        schema=DEAD_LETTER_SCHEMA,
    )
