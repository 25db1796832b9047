"""The checks on a raw orders partition, run before any dbt model reads it, in one step.

Two are blocking: a failure stops the downstream dbt step in the same run, so no mart is built
on missing or broken raw data. The third, `no_rejected_records` (checks/dead_letters.py), only
warns. One step for the three: as three steps they cost a run three step start-ups, pool claims
and event round trips (~0.3 s each) for a query each, on the same window and connection.
"""

import datetime as dt
from collections.abc import Callable, Iterator

import dagster as dg

from core.partitions import daily_partitions
from core.pools import WAREHOUSE_POOL
from core.windows import partition_days
from orchestration.checks.dead_letters import no_rejected_records
from warehouse import read_only

RAW_ORDERS = dg.AssetKey(["raw", "orders"])

PartitionCheck = Callable[[object, dt.date, dt.date], dg.AssetCheckResult]


def orders_present_every_day(warehouse, first_day: dt.date, last_day: dt.date):
    """Every day of the partition has orders in raw.orders."""
    rows = warehouse.execute(
        """
        with days as (
            select cast(generate_series as date) as day
            from generate_series(cast(? as date), cast(? as date), interval '1 day')
        )
        select days.day, count(orders.id)
        from days
        left join raw.orders as orders on cast(orders.ordered_at as date) = days.day
        group by days.day
        order by days.day
        """,
        [first_day, last_day],
    ).fetchall()
    empty_days = [day.isoformat() for day, count in rows if count == 0]
    return dg.AssetCheckResult(
        passed=not empty_days,
        metadata={
            "days": len(rows),
            "orders": sum(count for _, count in rows),
            "empty_days": ", ".join(empty_days[:20]) or "none",
        },
    )


def order_keys_unique_and_not_null(warehouse, first_day: dt.date, last_day: dt.date):
    """Order and item ids in the partition are present and unique."""
    (null_orders, duplicate_orders, null_items, duplicate_items) = warehouse.execute(
        """
        with orders as (
            select id from raw.orders
            where cast(ordered_at as date) between ? and ?
        ),
        items as (
            select items.id from raw.orders__items as items
            inner join orders on items.order_id = orders.id
        )
        select
            (select count(*) from orders where id is null),
            (select count(*) - count(distinct id) from orders),
            (select count(*) from items where id is null),
            (select count(*) - count(distinct id) from items)
        """,
        [first_day, last_day],
    ).fetchone()
    problems = {
        "orders with a null id": null_orders,
        "duplicate order ids": duplicate_orders,
        "items with a null id": null_items,
        "duplicate item ids": duplicate_items,
    }
    return dg.AssetCheckResult(
        passed=not any(problems.values()),
        metadata={name.replace(" ", "_"): count for name, count in problems.items()},
    )


# Each check's name, its function and whether a failure blocks the dbt step; in run order.
PARTITION_CHECKS: dict[str, tuple[PartitionCheck, bool]] = {
    "orders_present_every_day": (orders_present_every_day, True),
    "order_keys_unique_and_not_null": (order_keys_unique_and_not_null, True),
    "no_rejected_records": (no_rejected_records, False),
}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset=RAW_ORDERS,
            blocking=blocking,
            partitions_def=daily_partitions,
            description=(check.__doc__ or "").split("\n")[0],
        )
        for name, (check, blocking) in PARTITION_CHECKS.items()
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def raw_orders_partition_checks(context: dg.AssetCheckExecutionContext) -> Iterator:
    first_day, last_day = partition_days(context.partition_time_window)
    selected = {key.name for key in context.selected_asset_check_keys}
    with read_only() as warehouse:
        for name, (check, _) in PARTITION_CHECKS.items():
            if name in selected:
                outcome = check(warehouse, first_day, last_day)
                yield dg.AssetCheckResult(
                    asset_key=RAW_ORDERS,
                    check_name=name,
                    passed=outcome.passed,
                    severity=outcome.severity,
                    metadata=outcome.metadata,
                )
