"""Run the ingestion without Dagster: `python -m ingestion --start 2024-03-01 --end 2024-03-07`.

This is the way to debug the source on its own; Dagster runs the same functions per partition.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import settings
from ingestion.dead_letter import rejected_counts
from ingestion.pipeline import loader_file_format, make_pipeline
from ingestion.reachability import ApiUnreachableError, ensure_api_reachable
from ingestion.source import ORDERS, REFERENCE_RESOURCES, jaffle_shop_source, rejected_share_error
from warehouse import read_only


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first day")
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, required=True, help="last day (inclusive)"
    )
    parser.add_argument(
        "--resources",
        default=",".join((ORDERS, *REFERENCE_RESOURCES)),
        help="comma-separated resources to load (default: all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.end < args.start:
        print(f"--end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    config = settings.load()
    try:
        ensure_api_reachable(config.jaffle_api_url)
    except ApiUnreachableError as error:
        print(error, file=sys.stderr)
        return 1
    source = jaffle_shop_source(
        config.jaffle_api_url,
        args.start,
        args.end,
        page_size=config.api_page_size,
        resources=tuple(args.resources.split(",")),
        max_rejected_share=config.max_rejected_share,
    )
    try:
        pipeline = make_pipeline("jaffle_shop_cli", config.duckdb_path, postgres=config.postgres)
        load_info = pipeline.run(source, loader_file_format=loader_file_format(config.postgres))
    except Exception as error:
        too_many = rejected_share_error(error)
        if too_many is None:
            raise
        print(too_many, file=sys.stderr)
        return 1
    print(load_info)
    if ORDERS in args.resources.split(","):
        with read_only() as warehouse:
            counts = rejected_counts(warehouse, args.start, args.end)
        detail = ", ".join(f"{kind}: {count}" for kind, count in counts.items())
        print(
            f"Rejected records for {args.start}..{args.end}: {sum(counts.values())}"
            + (f" ({detail}); see raw.dead_letter" if counts else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
