"""A warning when a raw orders partition had records set aside in `raw.dead_letter`.

Non-blocking (WARN): the valid orders of the window loaded and the marts build on them; the
rejected ones wait, visible, until the source is fixed and the partition re-run (the replay).
Above MAX_REJECTED_SHARE the load itself fails instead, and nothing is written. It runs in
the step of the raw orders partition checks (checks/raw_orders.py).
"""

import datetime as dt

import dagster as dg

from ingestion.dead_letter import DEAD_LETTER, ORDERS_SOURCE, rejected_counts

_SAMPLE_REASONS = 5


def no_rejected_records(warehouse, first_day: dt.date, last_day: dt.date) -> dg.AssetCheckResult:
    """No order of the partition was rejected to raw.dead_letter."""
    counts = rejected_counts(warehouse, first_day, last_day)
    reasons = (
        warehouse.execute(
            f"select reason from raw.{DEAD_LETTER} "
            "where source = ? and day between ? and ? order by day, rejected_at limit ?",
            [ORDERS_SOURCE, first_day, last_day, _SAMPLE_REASONS],
        ).fetchall()
        if counts
        else []
    )
    rejected = sum(counts.values())
    return dg.AssetCheckResult(
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_records": rejected,
            "rejected_by_kind": dg.MetadataValue.json(counts),
            "sample_reasons": dg.MetadataValue.md(
                "\n".join(f"- {reason}" for (reason,) in reasons) or "none"
            ),
            "query": dg.MetadataValue.text(
                f"select * from raw.{DEAD_LETTER} where source = '{ORDERS_SOURCE}' "
                f"and day between '{first_day}' and '{last_day}'"
            ),
        },
    )
