"""`raw.dead_letter`: the records a load set aside, one row each, with the reason in words.

Rows are filed per source and day. Loading a window replaces the dead letters of its days, also
with none: the load sends one marker row per day, flagged `clears_day`, which dlt's merge uses
to delete the day's old rows and then leaves out of the table (a `hard_delete` column). So
re-running a partition after the source is fixed empties its dead letters: that is the replay.

The rows themselves are built in `ingestion.rejected_rows` (Arrow, needed only while loading).
"""

from __future__ import annotations

import datetime as dt

DEAD_LETTER = "dead_letter"
ORDERS_SOURCE = "jaffle_shop/orders"
MERGE_KEY = ["source", "day"]

# dlt hints of the table: delete+insert on (source, day), with the markers as hard deletes.
HINTS = {
    "table_name": DEAD_LETTER,
    "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
    "merge_key": MERGE_KEY,
    "columns": {"clears_day": {"data_type": "bool", "hard_delete": True}},
}


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
