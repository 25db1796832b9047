"""`raw.dead_letter`: the records a load set aside, one row each, with the reason in words.

Rows are filed per source and day. Loading a window replaces the dead letters of its days, also
with none: the load sends one marker row per day, flagged `clears_day`, which dlt's merge uses
to delete the day's old rows and then leaves out of the table (a `hard_delete` column). So
re-running a partition after the source is fixed empties its dead letters: that is the replay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa

from ingestion.order_tables import Rejected, Window

DEAD_LETTER = "dead_letter"
ORDERS_SOURCE = "jaffle_shop/orders"
MERGE_KEY = ["source", "day"]

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

# dlt hints of the table: delete+insert on (source, day), with the markers as hard deletes.
HINTS = {
    "table_name": DEAD_LETTER,
    "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
    "merge_key": MERGE_KEY,
    "columns": {"clears_day": {"data_type": "bool", "hard_delete": True}},
}


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


def rejected_counts(connection, first_day: dt.date, last_day: dt.date) -> dict[str, int]:
    """Dead letters of orders per kind filed under days first..last, from a DuckDB connection
    (an empty dict when there are none, or no table yet)."""
    exists = connection.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = ?",
        [DEAD_LETTER],
    ).fetchone()[0]
    if not exists:
        return {}
    rows = connection.execute(
        f"select kind, count(*) from raw.{DEAD_LETTER} "
        "where source = ? and day between ? and ? group by kind order by kind",
        [ORDERS_SOURCE, first_day, last_day],
    ).fetchall()
    return dict(rows)
