"""The morning digest: one message that says whether yesterday's data is in and sound.

Read from Dagster's public instance API (partition status per asset, the latest result of each
check, run records) and from the warehouse read-only (dead letters), never from Dagster's
storage tables. `make digest` prints it (orchestration/digest.py); `slack_morning_digest`
(digest_sensor.py) posts it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from orchestration.alerts.check_events import is_freshness_check

LAST_SENT_KEY = "orchestration.alerts/digest_last_sent"
"""When the last digest went to Slack (ISO time), in the instance's key-value store: the
failed runs a digest lists are those since then."""
MAX_LISTED = 10


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    job_name: str
    ended_at: dt.datetime


@dataclass(frozen=True)
class Digest:
    day: str
    """Yesterday: the partition the digest reports on."""
    built: tuple[str, ...]
    failed: tuple[str, ...]
    missing: tuple[str, ...]
    failing_checks: tuple[str, ...]
    """`asset:check (SEVERITY)` of the checks whose latest result failed, freshness excluded."""
    late: tuple[str, ...]
    """Assets whose partition freshness check fails now."""
    fresh: int
    """Freshness checks passing now."""
    dead_letters: dict[str, int] | None
    """Dead letters filed for yesterday's partition, per kind; None if the warehouse could not be
    read (`dead_letter_problem` says why)."""
    failed_runs: tuple[FailedRun, ...]
    since: dt.datetime
    dead_letter_problem: str = ""
    checks_passing: int = 0

    @property
    def all_good(self) -> bool:
        return not (
            self.failed
            or self.missing
            or self.failing_checks
            or self.late
            or self.dead_letters
            or self.dead_letter_problem
            or self.failed_runs
        )


def gather(
    instance: dg.DagsterInstance,
    asset_graph,
    now: dt.datetime,
    since: dt.datetime | None = None,
) -> Digest:
    """What the digest says at `now`, about yesterday (UTC) and the runs failed since `since`
    (the last digest sent; default the last 24 hours)."""
    day = (now.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    since = since or now - dt.timedelta(days=1)
    built, failed, missing = [], [], []
    for key in sorted(asset_graph.materializable_asset_keys, key=lambda k: k.path):
        partitions_def = asset_graph.get(key).partitions_def
        if not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            continue
        partition = partitions_def.get_partition_key_for_timestamp(
            dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        )
        status = (instance.get_status_by_partition(key, [partition], partitions_def) or {}).get(
            partition
        )
        name = key.to_user_string()
        if status == dg.AssetPartitionStatus.MATERIALIZED:
            built.append(name)
        elif status == dg.AssetPartitionStatus.FAILED:
            failed.append(name)
        else:
            missing.append(name)

    check_keys = sorted(asset_graph.asset_check_keys, key=str)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    failing, late, fresh, passing = [], [], 0, 0
    for key in check_keys:
        record = _latest_completed(instance, key, latest.get(key))
        if record is None:
            continue
        freshness = is_freshness_check(key.name)
        if record.status == AssetCheckExecutionRecordStatus.SUCCEEDED:
            fresh, passing = fresh + freshness, passing + (not freshness)
        elif freshness:
            late.append(key.asset_key.to_user_string())
        else:
            evaluation = record.event.dagster_event.asset_check_evaluation_data
            failing.append(f"{key.to_user_string()} ({evaluation.severity.value})")

    dead_letters, problem = _dead_letters(day)
    runs = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since)
    )
    failed_runs = tuple(
        FailedRun(
            r.dagster_run.run_id,
            r.dagster_run.job_name,
            dt.datetime.fromtimestamp(r.end_time or r.update_timestamp.timestamp(), dt.UTC),
        )
        for r in sorted(runs, key=lambda r: r.end_time or 0)
    )
    return Digest(
        day=day.isoformat(),
        built=tuple(built),
        failed=tuple(failed),
        missing=tuple(missing),
        failing_checks=tuple(failing),
        late=tuple(late),
        fresh=fresh,
        dead_letters=dead_letters,
        dead_letter_problem=problem,
        failed_runs=failed_runs,
        since=since,
        checks_passing=passing,
    )


def _latest_completed(instance, key, record):
    """The latest result of the check, past a planned result its run never gave."""
    done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    if record is None or record.status in done:
        return record
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=done
    )
    return history[0] if history else None


def _dead_letters(day: dt.date) -> tuple[dict[str, int] | None, str]:
    import settings
    from ingestion.dead_letter import rejected_counts
    from warehouse import read_only

    config = settings.load()
    if config.postgres is None and not config.duckdb_path.exists():
        return {}, ""  # nothing loaded yet, so nothing rejected
    try:
        with read_only() as warehouse:
            return rejected_counts(warehouse, day, day), ""
    except Exception as error:  # a warehouse not created yet, or busy: say so, don't fail
        return None, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def render(digest: Digest, webserver_url: str) -> str:
    """The digest as Slack mrkdwn; one line when all is good."""
    daily = len(digest.built) + len(digest.failed) + len(digest.missing)
    if digest.all_good:
        return (
            f":white_check_mark: *Morning digest {digest.day}:* all good: {daily} daily assets "
            f"built, {digest.checks_passing} checks passing, {digest.fresh} on time, no dead "
            "letters, no failed runs."
        )
    lines = [f":sunrise: *Morning digest {digest.day}*"]
    lines.append(
        f"*Partitions:* {len(digest.built)} of {daily} built"
        + _listed("failed", digest.failed)
        + _listed("missing", digest.missing)
    )
    if digest.failing_checks:
        lines.append(_listed("*Checks failing now:*", digest.failing_checks, lead=""))
    else:
        lines.append(f"*Checks:* none failing ({digest.checks_passing} passing)")
    if digest.dead_letters is None:
        lines.append(f"*Dead letters:* could not read the warehouse ({digest.dead_letter_problem})")
    elif digest.dead_letters:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(digest.dead_letters.items()))
        lines.append(
            f"*Dead letters:* {sum(digest.dead_letters.values())} for {digest.day} ({kinds})"
        )
    else:
        lines.append("*Dead letters:* none")
    if digest.failed_runs:
        since = digest.since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"*Runs failed since {since}:* {len(digest.failed_runs)}")
        for run in digest.failed_runs[:MAX_LISTED]:
            label = "asset materialization" if run.job_name.startswith("__") else run.job_name
            lines.append(
                f"• <{webserver_url}/runs/{run.run_id}|{run.run_id[:8]}> `{label}` "
                f"at {run.ended_at:%H:%M UTC}"
            )
        if len(digest.failed_runs) > MAX_LISTED:
            lines.append(f"• +{len(digest.failed_runs) - MAX_LISTED} more")
    else:
        lines.append("*Runs failed:* none")
    if digest.late:
        lines.append(_listed("*Freshness:* late:", digest.late, lead=""))
    elif digest.fresh:
        lines.append(f"*Freshness:* {digest.fresh} on time")
    else:
        lines.append("*Freshness:* not judged yet")
    return "\n".join(lines)


def _listed(label: str, names: Sequence[str], lead: str = "; ") -> str:
    if not names:
        return ""
    shown = ", ".join(f"`{name}`" for name in names[:MAX_LISTED])
    more = f" +{len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"{lead}{label} {shown}{more}"


def last_sent(instance: dg.DagsterInstance) -> dt.datetime | None:
    raw = instance.run_storage.get_cursor_values({LAST_SENT_KEY}).get(LAST_SENT_KEY)
    try:
        return dt.datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
