"""A never-built asset is not an incident: the rule that holds back its stale alerts, and the one
message that says what to do first.

An asset is *in service* once its partition freshness check has passed once (its due day was
built), or once a scheduled run that targets it has finished (the schedule had its chance; if it
failed, that run alerted, and lateness alerts from then on). Until then a failed freshness check
of the asset is first-day noise: a fork that has not backfilled yet, or has backfilled only old
days. Its stale alert is not sent; instead the platform posts, once ever, which assets are not
built yet and the command that builds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

SCHEDULE_TAG = "dagster/schedule_name"
_FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def in_service_rule(
    instance: dg.DagsterInstance, repository_def: dg.RepositoryDefinition | None
) -> Callable[[dg.AssetCheckKey], bool]:
    """Whether the asset of a freshness check is in service (see the module docstring); the
    answers of one tick are cached."""
    scheduled: dict[str, set[dg.AssetKey]] = {}
    for schedule in repository_def.schedule_defs if repository_def else []:
        job = repository_def.get_job(schedule.job_name)
        scheduled[schedule.name] = set(job.asset_layer.executable_asset_keys)
    tried: dict[str, bool] = {}

    def schedule_tried(name: str) -> bool:
        if name not in tried:
            tried[name] = bool(
                instance.get_run_records(
                    filters=dg.RunsFilter(tags={SCHEDULE_TAG: name}, statuses=_FINISHED), limit=1
                )
            )
        return tried[name]

    def in_service(check: dg.AssetCheckKey) -> bool:
        passed = instance.event_log_storage.get_asset_check_execution_history(
            check, limit=1, status={AssetCheckExecutionRecordStatus.SUCCEEDED}
        )
        return bool(passed) or any(
            check.asset_key in assets and schedule_tried(name) for name, assets in scheduled.items()
        )

    return in_service


def not_built_message(assets: Iterable[str], due: str | None) -> str:
    names = ", ".join(f"`{asset}`" for asset in sorted(assets))
    day = due or "YYYY-MM-DD"
    return "\n".join(
        [
            f":wave: *Not built yet:* {names}",
            "No partition they are due has been built and the daily schedule has not run for "
            "them yet, so they are not alerted as stale until then. Nothing has failed.",
            f"Build the due day with `make backfill START={day} END={day}` "
            "(an earlier START adds history).",
        ]
    )
