"""`make defs`: the platform's assets, checks, jobs, schedules and sensors in 100 columns.

`dg list defs` draws one wide table whose cells wrap into unreadable columns below ~200
characters; this prints the same inventory as plain aligned lines, a section per kind.
"""

from __future__ import annotations

import sys
import textwrap
from collections import defaultdict
from collections.abc import Sequence

import dagster as dg

WIDTH = 100


def listing(defs: dg.Definitions) -> list[str]:
    """Every line of the listing, none wider than `WIDTH`."""
    graph = defs.resolve_asset_graph()
    specs = sorted(defs.resolve_all_asset_specs(), key=lambda spec: spec.key.to_user_string())
    asset_rows = [
        (
            spec.key.to_user_string(),
            spec.group_name or "-",
            _partitioning(spec.partitions_def),
            _kind(spec, graph),
        )
        for spec in specs
    ]
    checks: dict[str, list[str]] = defaultdict(list)
    for key in graph.asset_check_keys:
        checks[key.asset_key.to_user_string()].append(key.name)
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    job_rows = [
        (
            job.name,
            _partitioning(job.partitions_def),
            _count(len(job.asset_layer.selected_asset_keys), "asset"),
        )
        for job in sorted(jobs, key=lambda job: job.name)
    ]
    schedule_rows = [
        (
            schedule.name,
            f"{schedule.cron_schedule} {schedule.execution_timezone or 'UTC'}",
            schedule.job_name,
            _status(schedule.default_status),
        )
        for schedule in sorted(defs.schedules or [], key=lambda schedule: schedule.name)
    ]
    sensor_rows = [
        (
            sensor.name,
            "run status" if isinstance(sensor, dg.RunStatusSensorDefinition) else "sensor",
            f"every {sensor.minimum_interval_seconds} s",
            _status(sensor.default_status),
        )
        for sensor in sorted(defs.sensors or [], key=lambda sensor: sensor.name)
    ]
    lines = _section(
        f"Assets ({len(asset_rows)})", ("key", "group", "partitions", "kinds"), asset_rows
    )
    lines += ["", f"Checks ({sum(len(names) for names in checks.values())}), by asset"]
    for asset in sorted(checks):
        lines += textwrap.wrap(
            ", ".join(sorted(checks[asset])),
            WIDTH,
            initial_indent=f"  {asset} ({len(checks[asset])}): ",
            subsequent_indent=" " * 6,
            break_on_hyphens=False,
        )
    lines += [""] + _section(f"Jobs ({len(job_rows)})", ("name", "partitions", "selects"), job_rows)
    lines += [""] + _section(
        f"Schedules ({len(schedule_rows)})", ("name", "cron", "job", "default"), schedule_rows
    )
    lines += [""] + _section(
        f"Sensors ({len(sensor_rows)})", ("name", "type", "interval", "default"), sensor_rows
    )
    resources = sorted((defs.resources or {}).keys())
    lines += ["", f"Resources ({len(resources)}): " + ", ".join(resources)]
    return [_fit(line) for line in lines]


def _section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [title] + [
        "  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _fit(line: str) -> str:
    line = line.rstrip()
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _partitioning(partitions_def: dg.PartitionsDefinition | None) -> str:
    if partitions_def is None:
        return "-"
    name = type(partitions_def).__name__.removesuffix("PartitionsDefinition")
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return f"{name.lower() or 'time window'} from {partitions_def.start:%Y-%m-%d}"
    return name.lower() or "custom"


def _kind(spec: dg.AssetSpec, graph) -> str:
    if not graph.get(spec.key).is_materializable:
        return "observable source" if graph.get(spec.key).is_observable else "external"
    return ", ".join(sorted(spec.kinds)) or "-"


def _status(status) -> str:
    return "on" if status and status.value == "RUNNING" else "off"


def main() -> int:
    from orchestration.definitions import defs

    print("\n".join(listing(defs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
