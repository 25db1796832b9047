"""Per-partition freshness of the daily marts.

A `FreshnessPolicy` judges an asset as a whole, so backfilling an old day can make a daily
mart look fresh while yesterday is missing. These checks ask the real question: is the most
recent complete day's partition materialized by 06:00 UTC?
"""

import dagster as dg

DAILY_MARTS = [
    dg.AssetKey(["marts", "orders"]),
    dg.AssetKey(["marts", "order_items"]),
    dg.AssetKey(["marts", "daily_revenue"]),
]

# The daily schedule runs at 02:00 UTC; four hours of slack before the day counts as late.
FRESHNESS_DEADLINE_CRON = "0 6 * * *"

daily_mart_freshness_checks = dg.build_time_partition_freshness_checks(
    assets=DAILY_MARTS,
    deadline_cron=FRESHNESS_DEADLINE_CRON,
    timezone="UTC",
    severity=dg.AssetCheckSeverity.ERROR,
)

# Evaluates the freshness checks on its own clock (they need no run of the assets).
freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=daily_mart_freshness_checks,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
