"""dbt's microbatch models as Dagster's daily partitions, with no configuration of their own.

A model with `incremental_strategy: microbatch` and `batch_size: day` is built by dbt one day
(one batch) at a time; its upstream models and sources that declare an `event_time` are
filtered by dbt itself. Dagster's daily partitions are the same days, so the translator gives
such a model the platform's daily partitions, and a run passes its window to dbt as
`--event-time-start`/`--event-time-end` (`event_time_args`). dbt reports each batch in
run_results.json (`batch_results`), which `batch_days` turns back into days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

MICROBATCH = "microbatch"
# The batch sizes the platform has partitions for: daily partitions only.
SUPPORTED_BATCH_SIZES = ("day",)
# dbt's --event-time-* format: an ISO timestamp, taken as UTC.
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class MicrobatchModelError(ValueError):
    """A microbatch model the platform cannot partition; the message says which and the fix."""


@dataclass(frozen=True)
class Microbatch:
    """What a microbatch model's config says about its batches."""

    model: str
    path: str
    batch_size: str
    begin: dt.date | None
    lookback: int


def microbatch_of(node: Mapping[str, Any]) -> Microbatch | None:
    """The microbatch config of a manifest node, or None when it is not a microbatch model."""
    config = node.get("config") or {}
    if node.get("resource_type") != "model" or config.get("incremental_strategy") != MICROBATCH:
        return None
    begin = config.get("begin")
    if isinstance(begin, str) and begin:
        begin = dt.datetime.fromisoformat(begin.replace("Z", "+00:00")).date()
    elif isinstance(begin, dt.datetime):
        begin = begin.date()
    return Microbatch(
        model=node.get("name", "?"),
        path=node.get("original_file_path", "?"),
        batch_size=str(config.get("batch_size") or ""),
        begin=begin or None,
        lookback=int(config.get("lookback") or 0),
    )


def checked_microbatch(batch: Microbatch, first_partition: dt.date) -> Microbatch:
    """`batch` if the platform's daily partitions can drive it; else `MicrobatchModelError`
    naming the model, what is wrong and the fix (raised while the definitions load)."""
    if batch.batch_size not in SUPPORTED_BATCH_SIZES:
        raise MicrobatchModelError(
            f"dbt model {batch.model} ({batch.path}) is a microbatch model with batch_size "
            f"{batch.batch_size!r}, but the platform partitions by day only: set "
            "`batch_size: day`, or make it an ordinary incremental model."
        )
    if batch.begin is not None and batch.begin > first_partition:
        raise MicrobatchModelError(
            f"dbt model {batch.model} ({batch.path}) begins on {batch.begin}, after the "
            f"platform's first daily partition {first_partition} (FIRST_PARTITION_DATE): "
            "partitions before its begin would build nothing. Set its `begin` to "
            f"{first_partition} or earlier, or FIRST_PARTITION_DATE={batch.begin}."
        )
    return batch


def event_time_args(window: dg.TimeWindow | None) -> list[str]:
    """dbt's event-time range for a run's window: the start and the exclusive end, exactly the
    run's days (both are midnight UTC for daily partitions). None: no range (dbt then builds
    from the model's last run, or from `begin`)."""
    if window is None:
        return []
    return [
        "--event-time-start",
        _utc(window.start).strftime(EVENT_TIME_FORMAT),
        "--event-time-end",
        _utc(window.end).strftime(EVENT_TIME_FORMAT),
    ]


def batch_days(result: Mapping[str, Any]) -> tuple[list[dt.date], list[dt.date]]:
    """The days a microbatch model's run_results entry built, and those whose batch failed."""
    batches = result.get("batch_results") or {}
    return _days(batches.get("successful")), _days(batches.get("failed"))


def _days(batches) -> list[dt.date]:
    days: set[dt.date] = set()
    for start, end in batches or []:
        first = _as_datetime(start)
        last = _as_datetime(end) - dt.timedelta(microseconds=1)
        day = first.date()
        while day <= last.date():
            days.add(day)
            day += dt.timedelta(days=1)
    return sorted(days)


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
