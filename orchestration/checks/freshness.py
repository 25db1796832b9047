"""Per-partition freshness of the daily assets that carry a freshness policy.

A `FreshnessPolicy` judges an asset as a whole, so backfilling an old day can make a daily
mart look fresh while yesterday is missing. These checks ask the real question: is the most
recent complete day's partition materialized by 06:00 UTC? They are built for whichever daily
assets the freshness rule (core/policies.py) selects, so no model is named here.
"""

from collections.abc import Sequence

import dagster as dg

# The daily schedule runs at 02:00 UTC; four hours of slack before the day counts as late.
FRESHNESS_DEADLINE_CRON = "0 6 * * *"


def partition_freshness_checks(
    assets: Sequence[dg.AssetsDefinition | dg.SourceAsset],
) -> Sequence[dg.AssetChecksDefinition]:
    """One freshness check per time-partitioned asset of `assets` that has a freshness policy."""
    keys = [
        spec.key
        for assets_def in assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.specs
        if spec.freshness_policy is not None
        and isinstance(spec.partitions_def, dg.TimeWindowPartitionsDefinition)
    ]
    if not keys:
        return []
    return dg.build_time_partition_freshness_checks(
        assets=keys,
        deadline_cron=FRESHNESS_DEADLINE_CRON,
        timezone="UTC",
        severity=dg.AssetCheckSeverity.ERROR,
    )


def partition_freshness_sensor(
    checks: Sequence[dg.AssetChecksDefinition],
) -> list[dg.SensorDefinition]:
    """Evaluates the freshness checks on its own clock (they need no run of the assets)."""
    if not checks:
        return []
    return [
        dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, default_status=dg.DefaultSensorStatus.RUNNING
        )
    ]
