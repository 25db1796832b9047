"""Slack alerts for failed asset checks and stale assets.

A failed non-blocking check does not fail its run (dagster#29896), so the run-failure sensor
never sees it: this sensor reads check results and freshness changes from the instance.

- A failed check with severity ERROR alerts; a freshness check (any check whose name contains
  "freshness", e.g. from `dg.build_time_partition_freshness_checks`, WARN by default) alerts
  whatever its severity.
- An asset whose `dg.FreshnessPolicy` state changes to FAIL alerts (the FRESHNESS_STATE_CHANGE
  events the freshness daemon records).

Check results are read from the instance's check-execution index, per check of this code
location, rather than with `get_event_records(ASSET_CHECK_EVALUATION, after_cursor=...)`: on the
default SQLite storage (run-sharded, what `dagster dev` uses) that query cannot take a storage-id
cursor. The cursor (JSON) keeps, per check, the execution id up to which everything is handled,
the storage id of the last freshness change handled, and the grouping state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from orchestration.alerts import grouping
from orchestration.alerts import settings as alert_settings
from orchestration.alerts.delivery import deliver
from orchestration.alerts.messages import (
    CheckFailure,
    FreshnessFailure,
    Repeat,
    check_failure_message,
    freshness_message,
)
from orchestration.alerts.slack import ALERTS_OFF, AlertNotSent, SlackResource

PAGE = 100
MAX_NEW_PER_CHECK = 1000
"""A check with more new results than this in one tick (a huge backfill) alerts on the latest."""

PLANNED = AssetCheckExecutionRecordStatus.PLANNED
FAILED = AssetCheckExecutionRecordStatus.FAILED


@dataclass
class Cursor:
    checks: dict[str, int] = field(default_factory=dict)
    """Check key → execution id up to which every result has been handled."""
    freshness_after: int = 0
    """Storage id of the last freshness-state change handled."""
    groups: dict[str, grouping.Thread] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps(
            {
                "checks": dict(sorted(self.checks.items())),
                "freshness_after": self.freshness_after,
                "groups": grouping.as_dict(self.groups),
            },
            separators=(",", ":"),
        )

    @staticmethod
    def loads(raw: str | None) -> Cursor | None:
        try:
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict):
                return None
            return Cursor(
                checks={key: int(value) for key, value in data.get("checks", {}).items()},
                freshness_after=int(data.get("freshness_after", 0)),
                groups=grouping.loads(data.get("groups")),
            )
        except (ValueError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class _Alert:
    group: str
    at: dt.datetime
    render: Callable[[Repeat | None], str]
    check: str | None = None
    execution_id: int = 0
    storage_id: int = 0


@dg.sensor(
    name="slack_on_check_failure",
    description="Posts to Slack when an asset check fails (ERROR, or any freshness check) or an "
    "asset's freshness policy fails.",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def slack_on_check_failure(context: dg.SensorEvaluationContext, slack: SlackResource):
    if not slack.enabled:
        context.log.info(ALERTS_OFF)
        return dg.SkipReason(ALERTS_OFF)

    instance = context.instance
    asset_graph = context.repository_def.asset_graph if context.repository_def else None
    check_keys = sorted(asset_graph.asset_check_keys, key=str) if asset_graph else []
    cursor = Cursor.loads(context.cursor)
    if cursor is None:
        cursor = _starting_cursor(instance, check_keys)
        context.update_cursor(cursor.dumps())
        return dg.SkipReason(
            f"Watching {len(check_keys)} checks and freshness from now on (earlier failures "
            "are not alerted)."
        )

    config = alert_settings.load()
    checks, check_alerts = _new_check_failures(instance, asset_graph, check_keys, cursor, config)
    freshness_after, freshness_alerts = _new_freshness_failures(
        instance, asset_graph, cursor, config
    )

    state = grouping.prune(cursor.groups, dt.datetime.now(dt.UTC), config.grouping_window)
    by_group: dict[str, list[_Alert]] = {}
    for alert in sorted([*check_alerts, *freshness_alerts], key=lambda a: a.at):
        by_group.setdefault(alert.group, []).append(alert)

    actions: dict[str, int] = {"posted": 0, "updated": 0}
    errors: list[str] = []
    for group, alerts in by_group.items():
        if errors:
            # Slack already failed this tick after its retries: don't spend them on every group.
            unsent = True
        else:
            try:
                state, action = deliver(
                    slack,
                    state,
                    group,
                    first_at=alerts[0].at,
                    last_at=alerts[-1].at,
                    failures=len(alerts),
                    window=config.grouping_window,
                    render=alerts[-1].render,
                )
                actions[action] += 1
                unsent = False
            except AlertNotSent as error:
                errors.append(f"{group}: {error}")
                unsent = True
        if unsent:
            # Not sent, so not handled: the next tick starts again just before these results.
            for alert in alerts:
                if alert.check is not None:
                    checks[alert.check] = min(checks[alert.check], alert.execution_id - 1)
                else:
                    freshness_after = min(freshness_after, alert.storage_id - 1)
    unsent_groups = len(by_group) - sum(actions.values())

    if errors and not any(actions.values()):
        # Nothing got through (Slack down?): fail the tick loudly; the cursor stays where it was.
        raise AlertNotSent(
            f"{unsent_groups} Slack alert(s) not sent, retrying next tick: {errors[0]}"
        )
    context.update_cursor(Cursor(checks, freshness_after, state).dumps())
    summary = f"Slack: {actions['posted']} posted, {actions['updated']} updated"
    if errors:
        context.log.error(
            f"{unsent_groups} Slack alert(s) not sent, retrying next tick: {errors[0]}"
        )
        summary += f", {unsent_groups} not sent (retrying next tick)"
    return dg.SkipReason(summary + ".")


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


def _new_check_failures(
    instance: dg.DagsterInstance,
    asset_graph,
    check_keys: Sequence[dg.AssetCheckKey],
    cursor: Cursor,
    config: alert_settings.AlertSettings,
) -> tuple[dict[str, int], list[_Alert]]:
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(list(check_keys))
    checks = dict(cursor.checks)
    alerts: list[_Alert] = []
    in_progress = _run_in_progress(instance)
    for key in check_keys:
        name = key.to_user_string()
        mark = checks.get(name, 0)
        if key not in latest or latest[key].id <= mark:
            continue
        for record in _records_after(storage, key, mark):
            if record.status == PLANNED and in_progress(record.run_id):
                break  # its result is still to come; start here next tick
            mark = record.id
            if record.status == FAILED and record.event and record.event.dagster_event:
                evaluation = record.event.dagster_event.asset_check_evaluation_data
                alert = _check_alert(asset_graph, key, record, evaluation, config)
                if alert:
                    alerts.append(alert)
        checks[name] = mark
    return checks, alerts


def _check_alert(asset_graph, key, record, evaluation, config) -> _Alert | None:
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
    return _Alert(
        group=f"freshness:{asset}" if freshness else f"check:{key.to_user_string()}",
        at=dt.datetime.fromtimestamp(record.event.timestamp, dt.UTC),
        render=lambda repeat: check_failure_message(failure, config.webserver_url, repeat),
        check=key.to_user_string(),
        execution_id=record.id,
    )


def _new_freshness_failures(
    instance: dg.DagsterInstance, asset_graph, cursor: Cursor, config: alert_settings.AlertSettings
) -> tuple[int, list[_Alert]]:
    after = cursor.freshness_after
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.FRESHNESS_STATE_CHANGE, after_cursor=after or None
        ),
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
            _Alert(
                group=f"freshness:{failure.asset}",
                at=dt.datetime.fromtimestamp(record.event_log_entry.timestamp, dt.UTC),
                render=lambda repeat, failure=failure: freshness_message(
                    failure, config.webserver_url, repeat
                ),
                storage_id=record.storage_id,
            )
        )
    return after, alerts


def _records_after(storage, key: dg.AssetCheckKey, mark: int) -> list[AssetCheckExecutionRecord]:
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


def _starting_cursor(instance: dg.DagsterInstance, check_keys) -> Cursor:
    """Start from now: everything already recorded counts as handled, except results still due."""
    in_progress = _run_in_progress(instance)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))
    checks = {
        key.to_user_string(): record.id - 1
        if record.status == PLANNED and in_progress(record.run_id)
        else record.id
        for key, record in latest.items()
    }
    last_change = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.FRESHNESS_STATE_CHANGE),
        limit=1,
        ascending=False,
    )
    return Cursor(checks, last_change[0].storage_id if last_change else 0)


def _run_in_progress(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    cache: dict[str, bool] = {}

    def in_progress(run_id: str) -> bool:
        if run_id not in cache:
            run = instance.get_run_by_id(run_id) if run_id else None
            cache[run_id] = run is not None and not run.is_finished
        return cache[run_id]

    return in_progress


def _state(state) -> str:
    return str(getattr(state, "value", state))
