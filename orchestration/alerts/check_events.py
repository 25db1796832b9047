"""Reading new check failures and freshness failures from the instance, for the check sensor.

Check results come from the instance's check-execution index, per check of this code location,
rather than from `get_event_records(ASSET_CHECK_EVALUATION, after_cursor=...)`: on the default
SQLite storage (run-sharded, what `dagster dev` uses) that query cannot take a storage-id cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from orchestration.alerts import settings as alert_settings
from orchestration.alerts.check_cursor import Cursor
from orchestration.alerts.messages import (
    CheckFailure,
    FreshnessFailure,
    Repeat,
    check_failure_message,
    freshness_message,
)
from orchestration.checks.freshness import EXPECTED_PARTITION

PAGE = 100
MAX_NEW_PER_CHECK = 1000
"""A check with more new results than this in one tick (a huge backfill) alerts on the latest."""

PLANNED = AssetCheckExecutionRecordStatus.PLANNED
FAILED = AssetCheckExecutionRecordStatus.FAILED
SUCCEEDED = AssetCheckExecutionRecordStatus.SUCCEEDED


@dataclass(frozen=True)
class Alert:
    group: str
    at: dt.datetime
    render: Callable[[Repeat | None], str]
    check: str | None = None
    execution_id: int = 0
    storage_id: int = 0
    freshness: bool = False


def is_freshness_check(check_name: str) -> bool:
    return "freshness" in check_name.lower()


def metadata_summary(metadata: Mapping[str, dg.MetadataValue]) -> tuple[tuple[str, str], ...]:
    """The scalar metadata of a check result as text; tables, JSON and the like stay in the UI."""
    entries = []
    for key, value in metadata.items():
        raw = value.value
        if isinstance(value, dg.TimestampMetadataValue):
            text = dt.datetime.fromtimestamp(raw, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        elif isinstance(raw, (str, int, float, bool)):
            text = str(raw)
        else:
            continue
        entries.append((key.removeprefix("dagster/"), text))
    return tuple(entries)


@dataclass
class CheckReading:
    """What one tick read from the check results since the cursor."""

    checks: dict[str, int]
    """Check key → execution id up to which every result is handled."""
    alerts: list[Alert]
    stale: set[str]
    """Freshness checks alerted (or to be, by `alerts`) and not passed since."""
    in_service: set[str]
    not_built: dict[str, str]
    """Asset → due partition: freshness failures held back because the asset is not in service."""


def new_check_failures(
    instance: dg.DagsterInstance,
    asset_graph,
    check_keys: Sequence[dg.AssetCheckKey],
    cursor: Cursor,
    config: alert_settings.AlertSettings,
    in_service: Callable[[dg.AssetCheckKey], bool] = lambda _: True,
) -> CheckReading:
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(list(check_keys))
    reading = CheckReading(dict(cursor.checks), [], set(cursor.stale), set(cursor.in_service), {})
    in_progress = run_in_progress(instance)
    for key in check_keys:
        name = key.to_user_string()
        mark = reading.checks.get(name, 0)
        if key not in latest or latest[key].id <= mark:
            continue
        for record in records_after(storage, key, mark):
            if record.status == PLANNED and in_progress(record.run_id):
                break  # its result is still to come; start here next tick
            mark = record.id
            if record.status not in (SUCCEEDED, FAILED) or not record.event:
                continue  # a planned result its run never gave (skipped)
            evaluation = record.event.dagster_event.asset_check_evaluation_data
            if is_freshness_check(key.name):
                if record.status == SUCCEEDED:
                    reading.stale.discard(name)
                    reading.in_service.add(name)
                if record.status != FAILED or name in reading.stale:
                    continue  # passed, or late still: its lateness was alerted already
                if name not in reading.in_service:
                    if not in_service(key):
                        due = evaluation.metadata.get(EXPECTED_PARTITION)
                        asset = key.asset_key.to_user_string()
                        reading.not_built[asset] = str(due.value) if due else ""
                        continue
                    reading.in_service.add(name)
            if record.status == FAILED:
                alert = _check_alert(asset_graph, key, record, evaluation, config)
                if alert:
                    reading.alerts.append(alert)
                    if alert.freshness:
                        reading.stale.add(name)
        reading.checks[name] = mark
    return reading


def _check_alert(asset_graph, key, record, evaluation, config) -> Alert | None:
    freshness = is_freshness_check(evaluation.check_name)
    if evaluation.severity != dg.AssetCheckSeverity.ERROR and not freshness:
        return None
    asset = evaluation.asset_key.to_user_string()
    spec = asset_graph.get_check_spec(key) if asset_graph else None
    failure = CheckFailure(
        asset=asset,
        check_name=evaluation.check_name,
        severity=evaluation.severity.value,
        freshness=freshness,
        partition=evaluation.partition or record.partition,
        check_description=spec.description if spec else None,
        result=evaluation.description,
        metadata=metadata_summary(evaluation.metadata),
    )
    return Alert(
        group=f"freshness:{asset}" if freshness else f"check:{key.to_user_string()}",
        at=dt.datetime.fromtimestamp(record.event.timestamp, dt.UTC),
        render=lambda repeat: check_failure_message(failure, config.webserver_url, repeat),
        check=key.to_user_string(),
        execution_id=record.id,
        freshness=freshness,
    )


def new_freshness_failures(
    instance: dg.DagsterInstance, asset_graph, cursor: Cursor, config: alert_settings.AlertSettings
) -> tuple[int, list[Alert]]:
    """Changes to FAIL after the cursor, and those read earlier but not yet sent."""
    after = cursor.freshness_after
    storage = instance.event_log_storage
    event_type = dg.DagsterEventType.FRESHNESS_STATE_CHANGE
    records = list(
        storage.get_event_records(
            dg.EventRecordsFilter(
                event_type=event_type, storage_ids=list(cursor.freshness_pending)
            ),
            ascending=True,
        )
        if cursor.freshness_pending
        else []
    )
    records += storage.get_event_records(
        dg.EventRecordsFilter(event_type=event_type, after_cursor=after or None),
        limit=PAGE,
        ascending=True,
    )
    alerts = []
    for record in records:
        after = max(after, record.storage_id)
        change = record.event_log_entry.dagster_event.asset_freshness_state_change_data
        if _state(change.new_state) != "FAIL" or _state(change.previous_state) == "FAIL":
            continue
        if asset_graph is not None and not asset_graph.has(change.key):
            continue  # another code location's asset: its own sensor alerts
        failure = FreshnessFailure(
            asset=change.key.to_user_string(), previous_state=_state(change.previous_state)
        )
        alerts.append(
            Alert(
                group=f"freshness:{failure.asset}",
                at=dt.datetime.fromtimestamp(record.event_log_entry.timestamp, dt.UTC),
                render=lambda repeat, failure=failure: freshness_message(
                    failure, config.webserver_url, repeat
                ),
                storage_id=record.storage_id,
            )
        )
    return after, alerts


def records_after(storage, key: dg.AssetCheckKey, mark: int) -> list[AssetCheckExecutionRecord]:
    """The check's executions with an id above `mark`, oldest first."""
    newest_first: list[AssetCheckExecutionRecord] = []
    before = None
    while len(newest_first) < MAX_NEW_PER_CHECK:
        page = storage.get_asset_check_execution_history(key, limit=PAGE, cursor=before)
        fresh = [record for record in page if record.id > mark]
        newest_first.extend(fresh)
        if len(page) < PAGE or len(fresh) < len(page):
            break
        before = page[-1].id
    return newest_first[::-1]


def run_in_progress(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    cache: dict[str, bool] = {}

    def in_progress(run_id: str) -> bool:
        if run_id not in cache:
            run = instance.get_run_by_id(run_id) if run_id else None
            cache[run_id] = run is not None and not run.is_finished
        return cache[run_id]

    return in_progress


def _state(state) -> str:
    return str(getattr(state, "value", state))
