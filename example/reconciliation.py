"""Reconcile each partition of marts.orders with raw.orders: same orders, same money.

dbt's tests check the marts against themselves; this checks them against what was loaded,
so a filter, join or rounding bug that loses or doubles orders fails loudly.
"""

import dagster as dg

from core.partitions import daily_partitions
from core.pools import WAREHOUSE_POOL
from core.windows import partition_days
from warehouse import read_only

MART_ORDERS = dg.AssetKey(["marts", "orders"])
# What the check reads of the dbt project (raw.orders is the example's dlt table).
RECONCILED_MODELS = {MART_ORDERS: {"order_date", "order_total"}}

RECONCILE_SQL = """
with raw_orders as (
    select count(*) as orders, coalesce(sum(order_total), 0) as total_cents
    from raw.orders
    where cast(ordered_at as date) between ? and ?
),
mart_orders as (
    select count(*) as orders, coalesce(sum(order_total), 0) * 100 as total_cents
    from marts.orders
    where order_date between ? and ?
)
select raw_orders.orders, raw_orders.total_cents, mart_orders.orders, mart_orders.total_cents
from raw_orders, mart_orders
"""


@dg.asset_check(
    asset=MART_ORDERS,
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    description="Order count and revenue of the partition equal raw.orders.",
)
def orders_reconcile_with_raw(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    first_day, last_day = partition_days(context.partition_time_window)
    with read_only() as warehouse:
        raw_count, raw_cents, mart_count, mart_cents = warehouse.execute(
            RECONCILE_SQL, [first_day, last_day, first_day, last_day]
        ).fetchone()
    return dg.AssetCheckResult(
        passed=raw_count == mart_count and raw_cents == mart_cents,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "raw_orders": raw_count,
            "mart_orders": mart_count,
            "raw_order_total": float(raw_cents) / 100,
            "mart_order_total": float(mart_cents) / 100,
        },
    )
