"""`python -m bench`: run the benchmark items, then write docs/benchmarks.md and .json.

A missed target never fails the run (benchmarks are not tests); a crashed item is reported
and the others still run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import measures
from bench.markdown import render
from bench.postgres import postgres
from bench.processes import ROOT
from bench.report import machine, targets
from bench.ui_backfill import ui_backfill

ITEMS = ("backfill", "daily", "load", "dev", "ui", "ingestion", "scale", "postgres", "test")
# Ranges lie inside the stand-in's data (from 2024-01-01) and before yesterday.
FULL = {"long": ("2024-01-01", "2024-12-30"), "short": ("2024-03-01", "2024-03-30")}
QUICK = {"long": ("2024-03-01", "2024-03-30"), "short": ("2024-03-01", "2024-03-07")}
DAY = "2024-03-01"
# Targets about Dagster's own overhead: missing one earns `measures.profile`.
_DAGSTER_MEASURES = ("Backfill tax", "Daily tax", "Import", "`dagster", "Peak memory", "3-day")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, help="runs per figure (default 3; 1 with --quick)")
    parser.add_argument(
        "--scale-repeat", type=int, default=1, help="runs per figure at 4× and 16× (default 1)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 7/30 days instead of 30/365, repeat 1"
    )
    parser.add_argument("--only", help=f"comma-separated items among {','.join(ITEMS)}")
    parser.add_argument("--skip-test", action="store_true", help="do not run `make test`")
    parser.add_argument("--no-profile", action="store_true", help="never run pyinstrument")
    parser.add_argument(
        "--report", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown report"
    )
    args = parser.parse_args(argv)
    args.items = tuple(args.only.split(",")) if args.only else ITEMS
    if unknown := set(args.items) - set(ITEMS):
        parser.error(f"unknown item(s) {', '.join(sorted(unknown))}; choose from {ITEMS}")
    if args.skip_test:
        args.items = tuple(item for item in args.items if item != "test")
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def _run_items(args: argparse.Namespace, plan: measures.Plan) -> tuple[dict, dict]:
    items: dict = {}
    errors: dict = {}
    steps = {
        "backfill": lambda: measures.backfill(plan),
        "daily": lambda: measures.daily(plan),
        "load": lambda: measures.load(plan),
        "dev": lambda: measures.dev_start(plan),
        "ui": lambda: ui_backfill(plan),
        "ingestion": lambda: measures.ingestion(plan),
        "scale": lambda: measures.scale(plan, items.get("backfill")),
        "postgres": lambda: postgres(plan),
        "test": lambda: measures.make_test(plan),
    }
    keys = {"dev": "dev_start", "ui": "ui_backfill", "test": "make_test"}
    for item in ITEMS:
        if item not in args.items:
            continue
        measures.progress(f"--- {item}")
        try:
            items[keys.get(item, item)] = steps[item]()
        except Exception:  # one broken item must not lose the others' figures
            errors[item] = traceback.format_exc()
            measures.progress(f"{item} crashed:\n{errors[item]}")
    return items, errors


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.monotonic()
    ranges = QUICK if args.quick else FULL
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    measures.progress(f"logs in {logs}")
    result: dict = {"machine": machine()}
    plan = measures.Plan(args.repeat, args.scale_repeat, ranges["long"], ranges["short"], DAY, logs)
    with plan.apis:
        items, errors = _run_items(args, plan)
        missed = [row for row in targets(items) if row[3].startswith("❌")]
        if not args.no_profile and any(row[0].startswith(_DAGSTER_MEASURES) for row in missed):
            measures.progress("--- profiles (a Dagster target was missed)")
            result["profiles"] = measures.profile(plan)
    result["meta"] = {
        "args": shlex.join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "repeat": args.repeat,
        "scale_repeat": args.scale_repeat,
        "duration_s": time.monotonic() - started,
        "logs": str(logs),
        "raw": args.report.with_suffix(".json").name,
    }
    result["items"], result["errors"] = items, errors
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.report.write_text(render(result))
    measures.progress(f"wrote {args.report} in {result['meta']['duration_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
