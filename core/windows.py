"""Turn a partition's time window into the inclusive days that the API and dbt speak.

Dagster windows are half-open, `[start, end)`; the API's `start_date`/`end_date` and dbt's
window (`DBT_MIN_DATE`/`DBT_MAX_DATE`, defaulting to the vars `min_date`/`max_date`) are
inclusive dates. Converting in one place, tested at the edges, is what keeps the last day of
a window from being dropped or loaded twice.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

# dbt's partition window. Passed as environment variables, not `--vars`: a change of vars makes
# dbt re-parse the whole project, a changed environment variable only the files that read it.
DBT_WINDOW_VARIABLES = ("DBT_MIN_DATE", "DBT_MAX_DATE")


def partition_days(window: dg.TimeWindow) -> tuple[dt.date, dt.date]:
    """The first and the last day (inclusive) covered by `window`."""
    if window.end <= window.start:
        raise ValueError(f"empty time window {window.start} .. {window.end}")
    last_instant = window.end - dt.timedelta(microseconds=1)
    return window.start.date(), last_instant.date()


def dbt_window_env(window: dg.TimeWindow | None) -> dict[str, str]:
    """dbt's window for the partitioned models, both days inclusive; empty when unpartitioned
    (the models' defaults then cover every day)."""
    if window is None:
        return {}
    first_day, last_day = partition_days(window)
    min_date, max_date = DBT_WINDOW_VARIABLES
    return {min_date: first_day.isoformat(), max_date: last_day.isoformat()}


def split_days(first_day: dt.date, last_day: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    """`first_day`..`last_day` (inclusive) as consecutive inclusive spans of at most `days`
    days, in order: every day in exactly one span."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    spans = []
    start = first_day
    while start <= last_day:
        end = min(start + dt.timedelta(days=days - 1), last_day)
        spans.append((start, end))
        start = end + dt.timedelta(days=1)
    return spans
