"""Runs that overlap: two CLI backfills started together on a fresh instance, and a scheduled
run under `dagster dev` launched at the same moment as a CLI backfill of overlapping days.

DuckDB allows one writer process; the `duckdb` pool (one slot, in the shipped dagster.yaml)
keeps every writer and reader step apart across runs. Both runs must finish, with no lock error,
and the marts must equal one clean run of the same days.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagster as dg
import requests

from commands.instance import prepare_instance
from tests.dagster_dev import running_dagster_dev
from tests.processes import PROJECT_ROOT, kill_tree, start_make, wait_for
from tests.support import REFERENCE_DAYS, warehouse_fingerprint

FIRST, LAST = REFERENCE_DAYS
LOCK_ERRORS = ("could not set lock", "conflicting lock", "secondary_indexes already exists")

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def clean_marts(clean_warehouse: Path) -> dict:
    """The marts of one uninterrupted run of FIRST..LAST."""
    return warehouse_fingerprint(clean_warehouse / "warehouse.duckdb", ("marts",))


def test_two_backfills_started_together_on_a_fresh_instance_both_finish(
    api_url, tmp_path, clean_warehouse
):
    env = {
        # Not created yet: `make` sets up the instance folder, as on a fresh clone.
        "DAGSTER_HOME": str(tmp_path / "fresh_home"),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "JAFFLE_API_URL": api_url,
    }
    ranges = [(FIRST, "2024-05-03"), ("2024-05-02", LAST)]
    makes = [
        start_make(["backfill", f"START={a}", f"END={b}"], env, tmp_path / f"backfill{i}.log")
        for i, (a, b) in enumerate(ranges)
    ]
    try:
        for make in makes:
            make.wait(timeout=600)
    finally:
        for make in makes:
            kill_tree(make.pid)
    for i, make in enumerate(makes):
        output = (tmp_path / f"backfill{i}.log").read_text()
        assert make.returncode == 0, output[-3000:]
        assert not [error for error in LOCK_ERRORS if error in output.lower()]
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        statuses = [run.status for run in instance.get_runs()]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 2
    assert warehouse_fingerprint(Path(env["DUCKDB_PATH"]), ("marts",)) == clean_marts(
        clean_warehouse
    )


def test_a_scheduled_run_and_a_cli_backfill_started_together_both_finish(
    api_url, tmp_path, clean_warehouse
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    prepare_instance(home)
    env = {
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "JAFFLE_API_URL": api_url,
    }
    with running_dagster_dev(tmp_path, env) as webserver:
        # The run the `daily_refresh` schedule's tick launches: its job, for one day.
        params = {
            "selector": {
                "repositoryLocationName": "trifecta",
                "repositoryName": "__repository__",
                "jobName": "daily_refresh",
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2024-05-03"}]},
            "runConfigData": {},
        }
        backfill = ["backfill", f"START={FIRST}", f"END={LAST}"]
        cli = start_make(backfill, env, tmp_path / "cli.log")
        try:
            answer = requests.post(
                f"{webserver}/graphql",
                json={"query": LAUNCH_RUN, "variables": {"params": params}},
                timeout=60,
            ).json()["data"]["launchRun"]
            assert answer["__typename"] == "LaunchRunSuccess", answer
            scheduled_run = answer["run"]["runId"]
            cli.wait(timeout=600)
            output = (tmp_path / "cli.log").read_text()
            assert cli.returncode == 0, output[-3000:]
            wait_for(lambda: _finished(home, scheduled_run), 600, "the scheduled run to finish", 1)
            # Runs the daemon launched on its own (the eager dashboard) read the warehouse too.
            wait_for(lambda: _all_finished(home), 300, "every run to finish", 1)
        finally:
            kill_tree(cli.pid)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}, [
            (run.job_name, run.status) for run in runs
        ]
        messages = [
            (record.event_log_entry.user_message or "").lower()
            for run in runs
            for record in instance.get_records_for_run(run.run_id, limit=5000).records
        ]
    assert not [m for m in messages if any(error in m for error in LOCK_ERRORS)]
    assert len(runs) >= 2
    assert warehouse_fingerprint(Path(env["DUCKDB_PATH"]), ("marts",)) == clean_marts(
        clean_warehouse
    )


def _finished(home: Path, run_id: str) -> bool:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished


def _all_finished(home: Path) -> bool:
    time.sleep(2)  # give the daemon a moment to queue what it will
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return all(run.is_finished for run in instance.get_runs())
