"""Blocking checks on a raw orders partition, run before any dbt model reads it.

Blocking means a failure stops the downstream dbt step in the same run: no mart is built on
missing or broken raw data.
"""

import dagster as dg

from core.partitions import daily_partitions
from core.pools import WAREHOUSE_POOL
from core.windows import partition_days
from warehouse import read_only

RAW_ORDERS = dg.AssetKey(["raw", "orders"])


def _days(context: dg.AssetCheckExecutionContext):
    return partition_days(context.partition_time_window)


@dg.asset_check(
    asset=RAW_ORDERS,
    blocking=True,
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    description="Every day of the partition has orders in raw.orders.",
)
def orders_present_every_day(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    first_day, last_day = _days(context)
    with read_only() as warehouse:
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


@dg.asset_check(
    asset=RAW_ORDERS,
    blocking=True,
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    description="Order and item ids in the partition are present and unique.",
)
def order_keys_unique_and_not_null(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    first_day, last_day = _days(context)
    with read_only() as warehouse:
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
