"""The real `make`, `dagster` and `python -m ingestion` commands in subprocesses, as a user runs
them."""

import dataclasses
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.definitions import defs, freshness_checks
from tests.processes import make_backfill
from tests.support import fetch_all, query

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _materialize_everything(*partition_args: str) -> subprocess.CompletedProcess:
    """`dagster asset materialize --select '*'` for the given partition or range."""
    return _run(
        [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*"]
        + list(partition_args)
    )


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


# A few malformed orders, so the run files dead letters and its `no_rejected_records` check fails.
MALFORMED_RATE = 0.01
WARNING_LINE = re.compile(r"\w+Warning: |when merging arrow schema")


def test_cli_backfill_of_a_range_loads_what_the_api_serves(
    warehouse, dagster_home, tmp_path, monkeypatch
):
    """`make backfill` of two days (the README's `dagster asset materialize ... --partition-range`
    under it): the data lands, no library warning is printed, and the summary it ends with
    names what was built, what failed and what was loaded."""
    monkeypatch.delenv("DAGSTER_WEBSERVER_URL", raising=False)
    first, last = "2024-03-05", "2024-03-06"
    settings = dataclasses.replace(ApiSettings.from_env({}), malformed_rate=MALFORMED_RATE)
    with running_api(settings) as api:
        code, output = make_backfill(
            first, last, {"JAFFLE_API_URL": api}, tmp_path / "backfill.log"
        )
        served = fetch_all(api, "orders", start_date=first, end_date=last)
    assert code == 0, output[-3000:]

    # Every order served is in raw or set aside, and marts.orders holds the ones in raw.
    raw_orders = query(
        warehouse,
        f"select count(*) from raw.orders where ordered_at::date between '{first}' and '{last}'",
    )[0][0]
    dead_letters = query(
        warehouse, f"select count(*) from raw.dead_letter where day between '{first}' and '{last}'"
    )[0][0]
    assert dead_letters > 0 and raw_orders + dead_letters == len(served)
    assert query(warehouse, "select count(*) from marts.orders")[0][0] == raw_orders

    # No library warnings in what the user reads.
    assert [line for line in output.splitlines() if WARNING_LINE.search(line)] == []

    # The summary: from the definitions (what exists), the warehouse (what was loaded) and the
    # instance (the run), not from the run's log.
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        [run] = instance.get_runs()
    graph = defs.resolve_asset_graph()
    built = [key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable]
    raw_tables = sorted(spec.key for spec in defs.resolve_all_asset_specs() if "dlt" in spec.kinds)
    # The check that fails: the raw orders' dead letters. The partition freshness checks are
    # the freshness sensor's business: a backfill of past days records no result for them.
    failing = ["raw/orders:no_rejected_records"]
    not_run = sum(len(list(c.check_keys)) for c in freshness_checks)
    rows = {
        key.to_user_string(): query(warehouse, f"select count(*) from raw.{key.path[-1]}")[0][0]
        for key in raw_tables
    }
    rows["raw/orders"] = raw_orders
    passed = len(graph.asset_check_keys) - len(failing) - not_run
    loaded = ", ".join(f"{key} {count:,}" for key, count in sorted(rows.items()))
    summary = output[output.index("make backfill: summary") :].splitlines()
    assert summary[1:4] == [
        f"  range         {first} .. {last}",
        f"  run           {run.run_id} SUCCESS",
        f"  assets        {len(built)} materialized, 0 not built",
    ]
    assert summary[4] == (
        f"  checks        {passed} passed, {len(failing)} failed, {not_run} not run: "
        + ", ".join(failing)
    )
    assert f"  rows loaded   {loaded}" in summary
    assert f"  dead letters  {dead_letters}" in summary
    assert re.fullmatch(r"  elapsed       run \d+ s, command (\d+ min )?\d+ s", summary[-2])
    assert summary[-1] == f"  in the UI     http://127.0.0.1:3000/runs/{run.run_id}"
    assert max(len(line) for line in summary) <= 100


def test_make_defs_lists_every_asset_in_100_columns():
    result = _run(["make", "--no-print-directory", "defs"])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    listed = {line.split()[0] for line in lines if line.startswith("  ")}
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} <= listed
    for name in [
        *(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        *(schedule.name for schedule in defs.schedules),
        *(sensor.name for sensor in defs.sensors),
    ]:
        assert name in listed
    checks = " ".join(lines)
    assert all(key.name in checks for key in defs.resolve_asset_graph().asset_check_keys)
    assert not WARNING_LINE.search(result.stderr)


def test_cli_rejects_an_unknown_partition_with_a_clear_error(warehouse, dagster_home):
    result = _materialize_everything("--partition", "2099-01-01")
    assert result.returncode != 0
    assert "2099-01-01" in result.stderr
    # Refused before anything ran: no warehouse, and no run materialized anything.
    assert not warehouse.exists()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        materializations = [
            record
            for run in instance.get_runs()
            for record in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
        ]
    assert materializations == []


def test_backfill_range_check_names_the_valid_range():
    result = _run([sys.executable, "-m", "commands.backfill_range", "2023-12-01", "2023-12-03"])
    assert result.returncode != 0
    assert "outside the daily partitions" in result.stderr
    assert "FIRST_PARTITION_DATE" in result.stderr


def test_ingestion_cli_names_the_url_and_setting_when_the_api_is_unreachable(warehouse):
    url = _closed_port_url()
    result = _run(
        [sys.executable, "-m", "ingestion", "--start", "2024-03-01", "--end", "2024-03-01"],
        JAFFLE_API_URL=url,
    )
    assert result.returncode == 1
    assert url in result.stderr and "JAFFLE_API_URL" in result.stderr
    assert not warehouse.exists()


def test_ingestion_cli_loads_a_range_without_dagster(api_url, warehouse):
    result = _run(
        [sys.executable, "-m", "ingestion", "--start", "2024-03-01", "--end", "2024-03-02"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = fetch_all(api_url, "orders", start_date="2024-03-01", end_date="2024-03-02")
    assert query(warehouse, "select count(*) from raw.orders")[0][0] == len(served) > 0
