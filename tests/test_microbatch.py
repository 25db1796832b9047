"""dbt's microbatch models as daily partitions: the pure pieces, with exact values at the edges."""

import datetime as dt

import dagster as dg
import pytest

from transform.microbatch import (
    MicrobatchModelError,
    batch_days,
    checked_microbatch,
    event_time_args,
    microbatch_of,
)

UTC = dt.UTC


def _window(start: str, end: str) -> dg.TimeWindow:
    return dg.TimeWindow(
        dt.datetime.fromisoformat(start).replace(tzinfo=UTC),
        dt.datetime.fromisoformat(end).replace(tzinfo=UTC),
    )


def test_one_day_is_one_batch_with_an_exclusive_end():
    assert event_time_args(_window("2024-05-01", "2024-05-02")) == [
        "--event-time-start",
        "2024-05-01T00:00:00",
        "--event-time-end",
        "2024-05-02T00:00:00",
    ]


def test_a_range_across_a_month_and_a_year_end_keeps_its_exact_days():
    args = event_time_args(_window("2024-12-30", "2025-01-02"))
    assert args[1::2] == ["2024-12-30T00:00:00", "2025-01-02T00:00:00"]


def test_a_window_in_another_zone_is_passed_in_utc():
    paris = dt.timezone(dt.timedelta(hours=2))
    window = dg.TimeWindow(
        dt.datetime(2024, 5, 1, 2, tzinfo=paris), dt.datetime(2024, 5, 2, 2, tzinfo=paris)
    )
    assert event_time_args(window)[1::2] == ["2024-05-01T00:00:00", "2024-05-02T00:00:00"]


def test_no_window_passes_no_event_time():
    assert event_time_args(None) == []


def _node(**config) -> dict:
    base = {"incremental_strategy": "microbatch", "batch_size": "day", "begin": "2024-01-01"}
    return {
        "resource_type": "model",
        "name": "daily_sales",
        "original_file_path": "models/reporting/daily_sales.sql",
        "config": {"materialized": "incremental", **base, **config},
    }


def test_a_daily_microbatch_model_from_the_manifest():
    batch = microbatch_of(_node(lookback=2))
    assert (batch.batch_size, batch.begin, batch.lookback) == ("day", dt.date(2024, 1, 1), 2)
    assert checked_microbatch(batch, dt.date(2024, 1, 1)) == batch
    assert microbatch_of(_node(incremental_strategy="delete+insert")) is None


@pytest.mark.parametrize("size", ["hour", "month", "year"])
def test_a_batch_size_without_partitions_is_refused_with_the_fix(size):
    with pytest.raises(MicrobatchModelError) as refused:
        checked_microbatch(microbatch_of(_node(batch_size=size)), dt.date(2024, 1, 1))
    message = str(refused.value)
    assert "daily_sales (models/reporting/daily_sales.sql)" in message
    assert f"batch_size '{size}'" in message and "set `batch_size: day`" in message


def test_a_begin_after_the_first_partition_is_refused_with_both_fixes():
    batch = microbatch_of(_node(begin="2024-03-01T00:00:00"))
    with pytest.raises(MicrobatchModelError, match="begins on 2024-03-01, after") as refused:
        checked_microbatch(batch, dt.date(2024, 1, 1))
    assert "FIRST_PARTITION_DATE=2024-03-01" in str(refused.value)


def test_batch_results_become_days():
    result = {
        "batch_results": {
            "successful": [
                ["2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00"],
                ["2024-03-04T00:00:00+00:00", "2024-03-05T00:00:00+00:00"],
            ],
            "failed": [["2024-03-02T00:00:00+00:00", "2024-03-04T00:00:00+00:00"]],
        }
    }
    assert batch_days(result) == (
        [dt.date(2024, 3, 1), dt.date(2024, 3, 4)],
        [dt.date(2024, 3, 2), dt.date(2024, 3, 3)],
    )
    assert batch_days({"status": "success"}) == ([], [])
