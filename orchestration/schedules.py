"""The daily schedule, and the API observation that keeps the source's status current."""

import dagster as dg

from core.partitions import daily_partitions
from ingestion.api_source import JAFFLE_SHOP_API

# Everything materializable: the partitioned assets for the day, the rest rebuilt whole.
daily_refresh_job = dg.define_asset_job(
    "daily_refresh", selection=dg.AssetSelection.all(), partitions_def=daily_partitions
)

# 02:00 UTC, for the day that just ended (the schedule targets the last complete partition).
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    daily_refresh_job,
    hour_of_day=2,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

observe_api_job = dg.define_asset_job(
    "observe_jaffle_shop_api", selection=dg.AssetSelection.keys(JAFFLE_SHOP_API)
)

observe_api_schedule = dg.ScheduleDefinition(
    job=observe_api_job,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
