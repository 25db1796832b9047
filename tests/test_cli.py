"""The real `dagster` and `python -m ingestion` CLIs in subprocesses, as a user runs them."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg

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


def test_cli_backfill_of_a_range_loads_what_the_api_serves(api_url, warehouse, dagster_home):
    result = _materialize_everything("--partition-range", "2024-03-05...2024-03-06")
    assert result.returncode == 0, result.stderr[-3000:]
    served = fetch_all(api_url, "orders", start_date="2024-03-05", end_date="2024-03-06")
    assert query(warehouse, "select count(*) from marts.orders")[0][0] == len(served) > 0


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
    result = _run(
        [sys.executable, "-m", "orchestration.backfill_range", "2023-12-01", "2023-12-03"]
    )
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
