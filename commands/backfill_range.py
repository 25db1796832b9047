"""Check a backfill's START and END before Dagster sees them, with a message that says what
range is valid. `make backfill` calls it: `python -m commands.backfill_range START END`."""

import datetime as dt
import sys

import dagster as dg


class BackfillRangeError(ValueError):
    """The requested range is not a range of existing daily partitions."""


def validate_backfill_range(
    start: str, end: str, partitions: dg.TimeWindowPartitionsDefinition, now: dt.datetime
) -> None:
    for name, value in (("START", start), ("END", end)):
        try:
            # Exactly YYYY-MM-DD: Python also parses 20240101 and 2024-W01-1, which would
            # compare wrongly with the partition keys below.
            valid = dt.date.fromisoformat(value).isoformat() == value
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise BackfillRangeError(f"{name}={value!r} is not a date: use YYYY-MM-DD.")
    first = partitions.get_first_partition_key()
    with dg.partition_loading_context(effective_dt=now):
        last = partitions.get_last_partition_key()
    if end < start:
        raise BackfillRangeError(f"END={end} is before START={start}.")
    if start < first or last is None or end > last:
        raise BackfillRangeError(
            f"{start}...{end} is outside the daily partitions, which run from {first} "
            f"(FIRST_PARTITION_DATE) to {last} (yesterday, the last complete UTC day)."
        )


if __name__ == "__main__":
    from core.partitions import daily_partitions

    try:
        validate_backfill_range(*sys.argv[1:3], daily_partitions, dt.datetime.now(dt.UTC))
    except BackfillRangeError as error:
        sys.exit(f"make backfill: {error}")
