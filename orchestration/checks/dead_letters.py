"""A warning when a raw orders partition had records set aside in `raw.dead_letter`.

Non-blocking (WARN): the valid orders of the window loaded and the marts build on them; the
rejected ones wait, visible, until the source is fixed and the partition re-run (the replay).
Above MAX_REJECTED_SHARE the load itself fails instead, and nothing is written.
"""

import dagster as dg

from core.partitions import daily_partitions
from core.pools import WAREHOUSE_POOL
from core.windows import partition_days
from ingestion.dead_letter import DEAD_LETTER, ORDERS_SOURCE, rejected_counts
from warehouse import read_only

RAW_ORDERS = dg.AssetKey(["raw", "orders"])
_SAMPLE_REASONS = 5


@dg.asset_check(
    asset=RAW_ORDERS,
    blocking=False,
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    description="No order of the partition was rejected to raw.dead_letter.",
)
def no_rejected_records(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    first_day, last_day = partition_days(context.partition_time_window)
    with read_only() as warehouse:
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
