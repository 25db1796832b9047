"""`make backfill START=YYYY-MM-DD END=YYYY-MM-DD`: every asset for those days, in one run.

Before launching, in this order so that the cheap checks answer first: the settings, the range
against the daily partitions, whether the API answers, whether the code location loads; then
runs whose process died are ended so their pool slots are free (orchestration/recovery.py). Then
`dagster asset materialize --partition-range` runs under `supervise()`, so SIGTERM stops it as
Ctrl-C does; after it exits, its own run is ended too if it could not record its end, and a
summary of the run is printed (commands/run_summary.py).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import dagster as dg

from commands.backfill_range import BackfillRangeError, validate_backfill_range
from commands.preflight import check_api, check_definitions, check_environment
from commands.run_summary import latest_range_run, render, summarize
from commands.supervise import supervise
from orchestration.recovery import reclaim_dead_runs
from settings import SettingError

DAGSTER = str(Path(sys.executable).parent / "dagster")


def materialize_command(start: str, end: str) -> list[str]:
    return [
        DAGSTER,
        "asset",
        "materialize",
        "-m",
        "orchestration.definitions",
        "--select",
        "*",
        "--partition-range",
        f"{start}...{end}",
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD", file=sys.stderr)
        return 2
    start, end = argv
    try:
        config = check_environment()
        # Only now: the partitions read the settings when imported.
        from core.partitions import daily_partitions

        validate_backfill_range(start, end, daily_partitions, dt.datetime.now(dt.UTC))
        check_api(config.jaffle_api_url)
        check_definitions()
    except (SettingError, BackfillRangeError) as error:
        print(f"make backfill: {error}", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        reclaim_dead_runs(instance, log=_say)
    launched = dt.datetime.now(dt.UTC)
    code = supervise(materialize_command(start, end))
    with dg.DagsterInstance.get() as instance:
        reclaim_dead_runs(instance, log=_say)
        _print_summary(instance, start, end, launched)
    return code


def _print_summary(instance, start: str, end: str, launched: dt.datetime) -> None:
    """The run's summary, after Dagster's own log: what was built, checked and loaded."""
    run_id = latest_range_run(instance, start, end, since=launched)
    if run_id is None:
        _say(f"no run of {start} .. {end} was recorded (see the messages above)")
        return
    elapsed = (dt.datetime.now(dt.UTC) - launched).total_seconds()
    lines = render(summarize(instance, run_id), elapsed_s=elapsed)
    print("\n".join(["", "make backfill: summary", *lines]), flush=True)


def _say(message: str) -> None:
    print(f"make backfill: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
