"""The one daily partitioning shared by the dlt orders asset and the partitioned dbt models."""

import dagster as dg

import settings

# UTC days, ending with yesterday: a day is only a partition once it is complete.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=settings.load().first_partition_date.isoformat(),
    timezone="UTC",
)
