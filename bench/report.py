"""Turn raw samples into medians, ratios and verdicts, and write them as Markdown.

Only successful runs enter a median; a figure with none says "failed" rather than a number.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
from importlib import metadata
from pathlib import Path

from bench.processes import ROOT

PACKAGES = ("dagster", "dagster-dbt", "dagster-dlt", "dlt", "dbt-core", "dbt-duckdb", "duckdb")
# The targets: (upper or lower bound, value).
TARGETS = {
    "daily": ("≤", 1.5),
    "backfill_30": ("≤", 1.5),
    "backfill": ("≤", 2.0),
    "backfill_16x": ("≤", 1.25),
    "load": ("≤", 1.1),
    "dev_start": ("≤", 1.2),
    "memory_16x": ("≤", 1.5),
    "ingestion_vs_duckdb": ("≤", 4.0),
    "ui_backfill": ("≤", 2.0),
    "make_test_s": ("≤", 300.0),
}


# --- numbers ---------------------------------------------------------------------------------


def ok_runs(samples: list[dict]) -> list[dict]:
    return [sample for sample in samples if sample["returncode"] == 0]


def median(samples: list[dict], key: str = "seconds") -> float | None:
    values = [sample[key] for sample in ok_runs(samples) if sample.get(key) is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def rate(samples: list[dict], key: str) -> float | None:
    """Median of per-run rates (`key` per second)."""
    values = [s[key] / s["seconds"] for s in ok_runs(samples) if s.get(key) and s["seconds"]]
    return statistics.median(values) if values else None


def verdict(target: str, value: float | None, missing: str = "no figure") -> str:
    if value is None:
        return f"❌ ({missing})"
    bound, limit = TARGETS[target]
    met = value <= limit if bound == "≤" else value >= limit
    return "✅" if met else "❌"


def target_text(target: str, unit: str = "×") -> str:
    bound, limit = TARGETS[target]
    return f"{bound} {limit:g}{unit}"


def fmt_s(samples: list[dict]) -> str:
    """Median seconds, with the spread of the runs when there are several."""
    good = ok_runs(samples)
    if not good:
        return "failed"
    text = f"{statistics.median(s['seconds'] for s in good):.1f} s"
    if len(good) > 1:
        text += f" ({min(s['seconds'] for s in good):.1f}–{max(s['seconds'] for s in good):.1f})"
    failed = len(samples) - len(good)
    return text + (f", {failed} failed" if failed else "")


def fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def fmt_n(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


# --- verdicts ------------------------------------------------------------------------------


def tax(entry: dict) -> float | None:
    """Dagster's median time over the bare tools' median."""
    return ratio(median(entry["dagster"]), median(entry["bare"]))


def _longest(backfill: dict) -> tuple[str, dict]:
    return max(backfill.items(), key=lambda item: item[1]["days"])


def targets(items: dict) -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, verdict) for every target whose item was measured."""
    rows = []

    def add(measure, value, target, unit="×", shown=None, missing="no figure"):
        shown = shown or fmt_x(value)
        rows.append((measure, shown, target_text(target, unit), verdict(target, value, missing)))

    if "daily" in items:
        add("Daily tax (one partition)", tax(items["daily"]), "daily")
    if "backfill" in items:
        label, entry = _longest(items["backfill"])
        for other_label, other in items["backfill"].items():
            if other is not entry:
                add(f"Backfill tax, {other_label}, 1×", tax(other), "backfill_30")
        note = "" if entry["days"] == 365 else " (target set for 365 days)"
        add(f"Backfill tax, {label}, 1×{note}", tax(entry), "backfill")
    if "scale" in items and "16" in items["scale"]:
        scales = items["scale"]
        add(f"Backfill tax, {scales['16']['days']} days, 16×", tax(scales["16"]), "backfill_16x")
        peak = (
            ratio(
                median(scales["16"]["dagster"], "peak_rss_mb"),
                median(scales["1"]["dagster"], "peak_rss_mb"),
            )
            if "1" in scales
            else None
        )
        add("Peak memory 16× ÷ 1× (Dagster path)", peak, "memory_16x")
    if "load" in items:
        load = items["load"]
        bare = median(load["bare imports"])
        add(
            "Import of the code location ÷ bare imports",
            ratio(median(load["definitions import"]), bare),
            "load",
        )
        add(
            "`dagster definitions validate` ÷ bare imports",
            ratio(median(load["definitions validate"]), bare),
            "load",
        )
    if "dev_start" in items:
        dev = items["dev_start"]
        add(
            "`dagster dev` start ÷ empty Definitions",
            ratio(median(dev["platform"]), median(dev["empty"])),
            "dev_start",
        )
    if "ui_backfill" in items:
        ui = items["ui_backfill"]
        add(
            "3-day backfill from the UI ÷ `make backfill`",
            ratio(median(ui["ui"]), median(ui["make backfill"])),
            "ui_backfill",
        )
    if "ingestion" in items:
        ing = items["ingestion"]
        add(
            "DuckDB `read_json` rows/s ÷ ingestion rows/s",
            ratio(rate(ing["duckdb"], "rows"), rate(ing["ingestion"], "rows")),
            "ingestion_vs_duckdb",
        )
    if "make_test" in items:
        run = items["make_test"]["runs"][0]
        seconds = run["seconds"] if run["returncode"] == 0 else None
        shown = f"{run['seconds']:.1f} s" + ("" if seconds else f" (exit {run['returncode']})")
        add("`make test` wall time", seconds, "make_test_s", " s", shown, "tests failed")
    return rows


# --- the machine -----------------------------------------------------------------------------


def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _commit() -> str:
    """HEAD's commit, read from .git without running git (a clone may lack it)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return "unknown"


def machine() -> dict:
    memory_kb = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "cpu": _proc_field("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory_kb) / 2**20, 1) if memory_kb.isdigit() else None,
        "python": platform.python_version(),
        "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }
