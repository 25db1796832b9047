"""Turn a partition's time window into the inclusive days that the API and dbt speak.

Dagster windows are half-open, `[start, end)`; the API's `start_date`/`end_date` and the dbt
vars `min_date`/`max_date` are inclusive dates. Converting in one place, tested at the edges,
is what keeps the last day of a window from being dropped or loaded twice.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg


def partition_days(window: dg.TimeWindow) -> tuple[dt.date, dt.date]:
    """The first and the last day (inclusive) covered by `window`."""
    if window.end <= window.start:
        raise ValueError(f"empty time window {window.start} .. {window.end}")
    last_instant = window.end - dt.timedelta(microseconds=1)
    return window.start.date(), last_instant.date()


def partition_vars(window: dg.TimeWindow) -> dict[str, str]:
    """dbt `--vars` for the partitioned models: `min_date`/`max_date`, both inclusive."""
    first_day, last_day = partition_days(window)
    return {"min_date": first_day.isoformat(), "max_date": last_day.isoformat()}


def dbt_build_args(window: dg.TimeWindow | None) -> list[str]:
    """The `dbt build` command line for one step: with the window's vars when partitioned."""
    args = ["build"]
    if window is not None:
        args += ["--vars", json.dumps(partition_vars(window))]
    return args
