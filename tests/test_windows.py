"""The partition window → inclusive days conversion, at its edges."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from core.partitions import daily_partitions
from core.windows import dbt_window_env, partition_days, split_days

UTC = dt.UTC


def _window(start: str, end: str) -> dg.TimeWindow:
    return dg.TimeWindow(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))


def test_one_day_partition_is_that_day_alone():
    window = daily_partitions.time_window_for_partition_key("2024-03-01")
    assert partition_days(window) == (dt.date(2024, 3, 1), dt.date(2024, 3, 1))


def test_range_keeps_its_last_day_and_not_the_next():
    window = _window("2024-03-01T00:00:00+00:00", "2024-03-08T00:00:00+00:00")
    assert partition_days(window) == (dt.date(2024, 3, 1), dt.date(2024, 3, 7))


def test_month_and_leap_day_boundaries():
    window = _window("2024-02-28T00:00:00+00:00", "2024-03-01T00:00:00+00:00")
    assert partition_days(window) == (dt.date(2024, 2, 28), dt.date(2024, 2, 29))


def test_year_boundary():
    window = _window("2024-12-31T00:00:00+00:00", "2025-01-01T00:00:00+00:00")
    assert partition_days(window) == (dt.date(2024, 12, 31), dt.date(2024, 12, 31))


def test_the_partitions_start_on_the_first_partition_date_setting():
    """FIRST_PARTITION_DATE, not a date in the code: read when the partitions are imported, so
    in a process of its own."""
    code = (
        "from core.partitions import daily_partitions as p; from core.windows import "
        "partition_days as d; k = p.get_first_partition_key(); "
        "print(k, *d(p.time_window_for_partition_key(k)))"
    )
    env = {**os.environ, "FIRST_PARTITION_DATE": "2024-02-29"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2024-02-29", "2024-02-29", "2024-02-29"]


def test_partitions_are_utc_days_even_across_a_dst_change():
    # Europe/US DST switches on these dates; UTC partitions must stay 24 h, one day each.
    for key in ("2024-03-10", "2024-03-31", "2024-10-27", "2024-11-03"):
        window = daily_partitions.time_window_for_partition_key(key)
        assert window.end - window.start == dt.timedelta(days=1)
        assert partition_days(window) == (dt.date.fromisoformat(key),) * 2


def test_empty_window_is_rejected():
    with pytest.raises(ValueError, match="empty time window"):
        partition_days(_window("2024-03-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"))


def test_dbt_window_is_inclusive_dates():
    window = _window("2024-03-01T00:00:00+00:00", "2024-03-08T00:00:00+00:00")
    assert dbt_window_env(window) == {
        "DBT_MIN_DATE": "2024-03-01",
        "DBT_MAX_DATE": "2024-03-07",
    }


def test_dbt_window_is_set_only_when_partitioned():
    assert dbt_window_env(None) == {}
    window = daily_partitions.time_window_for_partition_key("2024-01-31")
    assert dbt_window_env(window) == {"DBT_MIN_DATE": "2024-01-31", "DBT_MAX_DATE": "2024-01-31"}


def test_backfill_range_accepts_existing_days_and_names_the_valid_range_otherwise():
    from commands.backfill_range import BackfillRangeError, validate_backfill_range

    now = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)
    validate_backfill_range("2024-01-01", "2024-03-09", daily_partitions, now)
    for start, end, message in [
        ("2024-03-01", "2024-03-10", "to 2024-03-09"),  # today is not complete yet
        ("2023-12-31", "2024-01-02", "from 2024-01-01"),
        ("2024-03-05", "2024-03-01", "before START"),
        ("2024-3-5", "2024-03-06", "not a date"),
    ]:
        with pytest.raises(BackfillRangeError, match=message):
            validate_backfill_range(start, end, daily_partitions, now)


def test_split_days_covers_every_day_once_in_order():
    first, last = dt.date(2024, 1, 1), dt.date(2024, 12, 30)
    spans = split_days(first, last, 7)
    assert spans[0] == (first, dt.date(2024, 1, 7)) and spans[-1][1] == last
    days = [s + dt.timedelta(days=n) for s, e in spans for n in range((e - s).days + 1)]
    assert days == [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    assert all((e - s).days < 7 for s, e in spans)


def test_split_days_of_one_day_and_of_a_span_shorter_than_the_step():
    day = dt.date(2024, 2, 29)
    assert split_days(day, day, 7) == [(day, day)]
    assert split_days(day, day + dt.timedelta(days=2), 7) == [(day, day + dt.timedelta(days=2))]


def test_split_days_rejects_an_empty_step_or_a_reversed_window():
    day = dt.date(2024, 3, 1)
    with pytest.raises(ValueError, match="at least 1"):
        split_days(day, day, 0)
    with pytest.raises(ValueError, match="before"):
        split_days(day, day - dt.timedelta(days=1), 7)
