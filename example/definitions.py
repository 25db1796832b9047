"""The example's checks and chart, each included only when the dbt project has what it reads.

With another dbt project (a fork's), a piece whose models are absent is left out with one log
line naming them, instead of failing at run time on a missing table or column.
"""

import dagster as dg

from example.dashboard import CHART_MODELS, daily_revenue_chart
from example.reconciliation import MART_ORDERS, RECONCILED_MODELS, orders_reconcile_with_raw
from transform.models import is_daily_partitioned, missing_models


def defs() -> dg.Definitions:
    assets = [daily_revenue_chart] if _has_models("daily_revenue_chart", CHART_MODELS) else []
    checks = []
    if _has_models("orders_reconcile_with_raw", RECONCILED_MODELS):
        if is_daily_partitioned(MART_ORDERS):
            checks.append(orders_reconcile_with_raw)
        else:
            partitioned = f"{MART_ORDERS.to_user_string()} is not daily-partitioned"
            _left_out("orders_reconcile_with_raw", partitioned)
    return dg.Definitions(assets=assets, asset_checks=checks)


def _has_models(piece: str, required: dict) -> bool:
    missing = missing_models(required)
    if missing:
        _left_out(piece, f"the dbt project lacks {', '.join(missing)}")
    return not missing


def _left_out(piece: str, why: str) -> None:
    dg.get_dagster_logger().info(f"example: {piece} left out: {why}.")
