"""The example's checks and chart, each included only when the dbt project has what it reads.

With another dbt project (a fork's), a piece whose models are absent is left out with one log
line naming them, instead of failing at run time on a missing table or column.
"""

from collections.abc import Sequence

import dagster as dg

from core.asset_specs import is_time_partitioned, missing_assets
from example.dashboard import CHART_MODELS, daily_revenue_chart
from example.reconciliation import MART_ORDERS, RECONCILED_MODELS, orders_reconcile_with_raw


def defs(platform_assets: Sequence) -> dg.Definitions:
    """The pieces whose models are among `platform_assets` (the platform's asset definitions)."""
    assets = (
        [daily_revenue_chart]
        if _has_models(platform_assets, "daily_revenue_chart", CHART_MODELS)
        else []
    )
    checks = []
    if _has_models(platform_assets, "orders_reconcile_with_raw", RECONCILED_MODELS):
        if is_time_partitioned(platform_assets, MART_ORDERS):
            checks.append(orders_reconcile_with_raw)
        else:
            partitioned = f"{MART_ORDERS.to_user_string()} is not daily-partitioned"
            _left_out("orders_reconcile_with_raw", partitioned)
    return dg.Definitions(assets=assets, asset_checks=checks)


def _has_models(assets: Sequence, piece: str, required: dict) -> bool:
    missing = missing_assets(assets, required)
    if missing:
        _left_out(piece, f"the dbt project lacks {', '.join(missing)}")
    return not missing


def _left_out(piece: str, why: str) -> None:
    dg.get_dagster_logger().info(f"example: {piece} left out: {why}.")
