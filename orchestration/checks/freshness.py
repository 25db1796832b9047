"""Per-partition freshness of the daily assets that carry a freshness policy.

A `FreshnessPolicy` judges an asset as a whole, so backfilling an old day can make a daily
mart look fresh while yesterday is missing. These checks ask the real question: is the most
recent complete day's partition materialized by 06:00 UTC? They are built for whichever daily
assets the freshness rule (core/policies.py) selects, so no model is named here.

Lateness of the current day is the freshness sensor's business, not any run's: a run that
materializes an asset (a backfill of old days, the daily schedule's run) records no freshness
result for it, so its checks are only its own partitions' checks. The sensor evaluates each
check in a run of its own: first at start, again when a passing result's `fresh_until` has
passed, and after a failure once the asset was materialized since (Dagster's own freshness
sensor's rules), plus once a day after the deadline while it fails (so a failure held back
as first-day noise is judged again once the schedule has run: orchestration/alerts/
never_built.py); a result a materializing run left unrecorded blocks nothing.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

# The daily schedule runs at 02:00 UTC; four hours of slack before the day counts as late.
FRESHNESS_DEADLINE_HOUR_UTC = 6
CHECK_NAME = "freshness_check"
SENSOR_NAME = "freshness_checks_sensor"
FRESH_UNTIL = "dagster/fresh_until_timestamp"
"""When a passing result can next turn overdue (the metadata key Dagster's freshness checks use)."""
EXPECTED_PARTITION = "expected_partition"


def partition_freshness_checks(
    assets: Sequence[dg.AssetsDefinition | dg.SourceAsset],
) -> Sequence[dg.AssetChecksDefinition]:
    """One freshness check per time-partitioned asset of `assets` that has a freshness policy."""
    specs = [
        spec
        for assets_def in assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.specs
        if spec.freshness_policy is not None
        and isinstance(spec.partitions_def, dg.TimeWindowPartitionsDefinition)
    ]
    if not specs:
        return []
    return [freshness_checks_for({spec.key: spec.partitions_def for spec in specs})]


def last_deadline(now: dt.datetime) -> dt.datetime:
    """The latest 06:00 UTC at or before `now`."""
    today = now.astimezone(dt.UTC).replace(
        hour=FRESHNESS_DEADLINE_HOUR_UTC, minute=0, second=0, microsecond=0
    )
    return today if today <= now else today - dt.timedelta(days=1)


def expected_partition(
    partitions_def: dg.TimeWindowPartitionsDefinition, now: dt.datetime
) -> str | None:
    """The partition that must be in by now: the last complete one at the latest deadline."""
    with dg.partition_loading_context(effective_dt=last_deadline(now)):
        return partitions_def.get_last_partition_key()


def freshness_checks_for(
    partitions: dict[dg.AssetKey, dg.TimeWindowPartitionsDefinition],
) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            description=f"The last complete day's partition is in by "
            f"{FRESHNESS_DEADLINE_HOUR_UTC:02d}:00 UTC (evaluated by {SENSOR_NAME}).",
        )
        for key in partitions
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name="partition_freshness_checks")
    def partition_freshness(context: dg.AssetCheckExecutionContext):
        materializing = _materialized_by_run(context)
        now = dt.datetime.now(dt.UTC)
        for check_key in context.selected_asset_check_keys:
            asset = check_key.asset_key
            if asset in materializing:
                continue  # this run answers for its own partitions, not for today's lateness
            expected = expected_partition(partitions[asset], now)
            if expected is None:
                continue  # no partition is due yet
            done = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[expected]), limit=1
            ).records
            ever = context.instance.get_latest_materialization_event(asset)
            metadata: dict[str, dg.RawMetadataValue] = {EXPECTED_PARTITION: expected}
            if done:
                description = f"Partition {expected} is in."
                metadata[FRESH_UNTIL] = dg.TimestampMetadataValue(
                    (last_deadline(now) + dt.timedelta(days=1)).timestamp()
                )
            elif ever is None:
                description = f"Never materialized; partition {expected} was due."
            else:
                description = f"Partition {expected} is overdue."
                metadata["last_updated_timestamp"] = dg.TimestampMetadataValue(ever.timestamp)
            yield dg.AssetCheckResult(
                asset_key=asset,
                check_name=CHECK_NAME,
                passed=bool(done),
                severity=dg.AssetCheckSeverity.ERROR,
                description=description,
                metadata=metadata,
            )

    return partition_freshness


def _materialized_by_run(context: dg.AssetCheckExecutionContext) -> set[dg.AssetKey]:
    selection = context.run.asset_selection
    if selection is None:  # a whole job: every asset it holds
        selection = context.job_def.asset_layer.executable_asset_keys
    return set(selection)


def partition_freshness_sensor(
    checks: Sequence[dg.AssetChecksDefinition],
) -> list[dg.SensorDefinition]:
    """Evaluates the freshness checks on its own clock (they need no run of the assets)."""
    if not checks:
        return []
    keys = sorted((key for c in checks for key in c.check_keys), key=str)

    @dg.sensor(
        name=SENSOR_NAME,
        description="Evaluates the partition freshness checks: at start, when a passing result "
        "can turn overdue, and while failing once a day or once the asset was materialized again.",
        asset_selection=dg.AssetSelection.checks(*checks),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def freshness_checks_sensor(context: dg.SensorEvaluationContext):
        now = dt.datetime.now(dt.UTC)
        due = [key for key in keys if check_due(context.instance, key, now)]
        if not due:
            return dg.SkipReason("No freshness check is due.")
        return dg.RunRequest(asset_check_keys=due)

    return [freshness_checks_sensor]


def check_due(instance: dg.DagsterInstance, key: dg.AssetCheckKey, now: dt.datetime) -> bool:
    summary = instance.event_log_storage.get_asset_check_summary_records([key])[key]
    last = summary.last_check_execution_record
    if last is not None and last.status == AssetCheckExecutionRecordStatus.PLANNED:
        run = instance.get_run_by_id(last.run_id)
        if run is not None and not run.is_finished:
            return False  # being evaluated (or about to be, by a run in progress)
    done = summary.last_completed_check_execution_record
    if done is None or done.event is None:
        return True
    evaluation = done.event.dagster_event.asset_check_evaluation_data
    if evaluation.passed:
        fresh_until = evaluation.metadata.get(FRESH_UNTIL)
        return fresh_until is None or fresh_until.value <= now.timestamp()
    if done.event.timestamp < last_deadline(now).timestamp():
        return True  # failing since before today's deadline: judged again, once a day
    latest = instance.get_latest_materialization_event(key.asset_key)
    return latest is not None and latest.timestamp > done.event.timestamp
