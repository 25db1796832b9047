"""`dg`, the CLI Dagster now recommends, on this project as a user runs it: it finds the
definitions through pyproject's `[tool.dg]`, checks and lists them, launches a partition range
and serves them in `dg dev`."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from tests.dagster_dev import free_port, location_loaded
from tests.support import fetch_all, query

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DG = str(Path(sys.executable).parent / "dg")
# As in a shell with the project's venv activated (else dg warns the two differ).
ENV = {"DO_NOT_TRACK": "1", "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
# `dg dev`'s processes by the head of their command lines (up to the first long option).
ROLES = {
    "dg dev": "dg dev",
    "-m dagster_webserver": "webserver",
    "-m dagster._daemon run": "daemon",
    "-m dagster code-server start": "code server",
    "-m dagster api grpc": "code server's gRPC server",
}
# Python starts one beside a process that uses multiprocessing; whether one is up is not ours.
HELPERS = {"-c from multiprocessing.resource_tracker": "multiprocessing's resource tracker"}
EXPECTED_ROLES = sorted(ROLES.values())


def _dg(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DG, *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **ENV, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_dg_check_defs_loads_the_definitions(dagster_home):
    result = _dg("check", "defs")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "All definitions loaded successfully." in result.stdout


def test_dg_list_defs_lists_the_whole_asset_graph():
    result = _dg("list", "defs", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "does not match" not in result.stderr
    listed = json.loads(result.stdout)
    assets = {asset["asset_key"] for asset in listed["assets"]}
    # dlt's raw tables, dbt's staging and marts, and the dashboard at the end of the lineage.
    assert {"raw/orders", "staging/stg_orders", "marts/orders", "marts/daily_revenue"} <= assets
    assert "dashboards/daily_revenue_chart" in assets
    assert {job["name"] for job in listed["jobs"]} >= {"daily_refresh"}
    assert {schedule["name"] for schedule in listed["schedules"]} >= {"daily_refresh_schedule"}


def test_dg_launch_of_a_partition_range_loads_what_the_api_serves(api_url, warehouse, dagster_home):
    prepared = subprocess.run(
        [sys.executable, "-m", "commands.instance"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert prepared.returncode == 0, prepared.stderr[-3000:]

    result = _dg("launch", "--assets", "*", "--partition-range", "2024-03-05...2024-03-06")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]

    served = fetch_all(api_url, "orders", start_date="2024-03-05", end_date="2024-03-06")
    assert query(warehouse, "select count(*) from marts.orders")[0][0] == len(served) > 0
    days = query(warehouse, "select min(order_date), max(order_date) from marts.daily_revenue")
    assert [str(day) for day in days[0]] == ["2024-03-05", "2024-03-06"]
    # One run for the whole range, recorded in the instance as a success.
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]
    assert runs[0].tags.get("dagster/asset_partition_range_start") == "2024-03-05"
    assert runs[0].tags.get("dagster/asset_partition_range_end") == "2024-03-06"


def _role(pid: int) -> str:
    """What a process of `dg dev` is, from its command line (itself, if unknown)."""
    try:
        line = Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")
    except OSError:
        return "gone"
    head = line.split(" --")[0]
    return next(
        (
            role
            for marker, role in {**ROLES, **HELPERS}.items()
            if head.endswith(marker) or f" {marker}" in head
        ),
        line[:200],
    )


def _process_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes in the process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


def test_dg_dev_loads_the_code_location_and_stops_leaving_no_process(tmp_path, dagster_home):
    port = free_port()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    log_path = tmp_path / "dg_dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [DG, "dev", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **ENV, "TMPDIR": str(tmpdir)},
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group with default signal handling, as a terminal would start it.
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while not location_loaded(base_url):
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        # Everything dg dev started runs in its process group, so one signal reaches all.
        roles = sorted(_role(pid) for pid in _process_group(process.pid))
        assert [role for role in roles if role not in HELPERS.values()] == EXPECTED_ROLES

        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _process_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _process_group(process.pid) == [], log_path.read_text()[-3000:]
        assert not location_loaded(base_url)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
