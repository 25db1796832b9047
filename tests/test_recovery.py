"""Crashes and stops, driven through the real commands: a `make backfill` killed with SIGKILL
during dbt or during the dlt load, and `make backfill` / `make dev` stopped with SIGTERM.

Each killed run is followed by the same `make backfill` again, which must finish on its own and
leave the warehouse identical to a run that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from tests.dagster_dev import free_port
from tests.processes import (
    PROJECT_ROOT,
    claimed_pool_slots,
    command_line,
    descendants,
    kill_tree,
    make_backfill,
    pending_pool_runs,
    processes_matching,
    start_make,
    step_started,
    wait_for,
)
from tests.support import REFERENCE_DAYS, query, warehouse_fingerprint

START, END = REFERENCE_DAYS


@pytest.fixture
def clean_fingerprint(clean_warehouse) -> dict:
    """The warehouse after one uninterrupted run of START..END."""
    return warehouse_fingerprint(clean_warehouse / "warehouse.duckdb")


def platform_env(tmp_path: Path, api_url: str) -> dict[str, str]:
    """A fresh instance folder and warehouse, as on a new clone; `make` sets up the rest."""
    return {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "JAFFLE_API_URL": api_url,
        "TMPDIR": str(_mkdir(tmp_path / "tmp")),
    }


def runs_by_status(home: Path) -> dict[str, dg.DagsterRunStatus]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {run.run_id: run.status for run in instance.get_runs()}


def test_a_backfill_killed_during_dbt_does_not_wedge_the_next_one(
    api_url, tmp_path, clean_warehouse, clean_fingerprint
):
    env = platform_env(tmp_path, api_url)
    home = Path(env["DAGSTER_HOME"])
    warehouse = Path(env["DUCKDB_PATH"])
    first = start_make(["backfill", f"START={START}", f"END={END}"], env, tmp_path / "killed.log")
    # dbt's own log of the step says a first model is built: the kill lands mid-build, with
    # some of dbt's relations written and others not, not in dbt's start-up or parse.
    dbt_log = tmp_path / "warehouse.dbt" / "dbt_models" / "dbt.log"
    wait_for(
        lambda: dbt_log.exists() and " OK created " in dbt_log.read_text(errors="replace"),
        timeout_s=300,
        what="dbt to build its first model under make backfill",
        poll_s=0.05,
    )
    kill_tree(first.pid)  # everything at once, as when the laptop closes
    first.wait()

    # Half built: some of dbt's relations exist, not all of them.
    built = _dbt_relations(warehouse)
    assert built and built < _dbt_relations(clean_warehouse / "warehouse.duckdb"), built
    # The fault as users meet it: the dead run is still STARTED and holds the pool's only slot.
    (dead_run,) = runs_by_status(home)
    assert runs_by_status(home)[dead_run] == dg.DagsterRunStatus.STARTED
    assert claimed_pool_slots(home) == [dead_run]

    began = time.monotonic()
    code, output = make_backfill(START, END, env, tmp_path / "again.log", timeout_s=300)
    recovery_s = time.monotonic() - began
    assert code == 0, output[-3000:]
    assert f"The process of run {dead_run}" in output
    statuses = runs_by_status(home)
    assert statuses.pop(dead_run) == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [dg.DagsterRunStatus.SUCCESS]
    assert claimed_pool_slots(home) == []
    assert warehouse_fingerprint(warehouse) == clean_fingerprint
    print(f"recovered in {recovery_s:.1f} s")


def _normalized_packages(warehouse: Path) -> list[Path]:
    """dlt load packages normalized and waiting to be loaded, in the pipelines' working folder
    beside the warehouse (ingestion/pipeline.py): once loaded, a package moves to `loaded/`."""
    return list(warehouse.parent.glob(f"{warehouse.stem}.dlt/*/load/normalized/*/"))


def _jobs(package: Path) -> dict[str, int]:
    """How many of a load package's jobs are new, started and completed."""
    return {folder.name: len(list(folder.iterdir())) for folder in package.glob("*_jobs")}


def _materialize_process(make_pid: int) -> int | None:
    """The `dagster asset materialize` under `make backfill`: it leads its own process group
    (commands/supervise.py), in which the run's steps execute."""
    found = [p for p in descendants(make_pid) if "asset materialize" in command_line(p)]
    return found[0] if found else None


def test_a_backfill_killed_during_the_dlt_load_recovers_on_the_next_run(
    api_url, tmp_path, clean_fingerprint
):
    env = platform_env(tmp_path, api_url)
    home = Path(env["DAGSTER_HOME"])
    warehouse = Path(env["DUCKDB_PATH"])
    first = start_make(["backfill", f"START={START}", f"END={END}"], env, tmp_path / "killed.log")
    try:
        run_group = wait_for(
            lambda: _materialize_process(first.pid), 240, "dagster asset materialize", 0.5
        )
        # A package stays normalized for a few hundred milliseconds while dlt loads it: stop
        # the run's whole process group the moment one shows, then look, then kill.
        packages = wait_for(
            lambda: _normalized_packages(warehouse), 240, "a normalized dlt load package", 0.01
        )
        os.killpg(run_group, signal.SIGSTOP)
        # Stopped in dlt's load stage: the package is on disk and was not loaded.
        assert all(package.is_dir() for package in packages), packages
        print("dlt jobs when stopped:", {p.name: _jobs(p) for p in packages})
    finally:
        kill_tree(first.pid)
        first.wait()
    (dead_run,) = runs_by_status(home)
    assert runs_by_status(home)[dead_run] == dg.DagsterRunStatus.STARTED
    assert claimed_pool_slots(home) == [dead_run]

    code, output = make_backfill(START, END, env, tmp_path / "again.log", timeout_s=300)
    assert code == 0, output[-3000:]
    statuses = runs_by_status(home)
    assert statuses.pop(dead_run) == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [dg.DagsterRunStatus.SUCCESS]
    assert claimed_pool_slots(home) == []
    # The killed package was not finished but dropped (dagster-dlt drops a pipeline's local
    # state before each run), and the window loaded again: merged on keys, the same tables.
    assert _normalized_packages(warehouse) == []
    loads = {load_id for (load_id,) in query(warehouse, "select load_id from raw._dlt_loads")}
    assert loads and loads.isdisjoint(package.name for package in packages)
    assert warehouse_fingerprint(warehouse) == clean_fingerprint


WAITING_GRACE_S = 5


def test_timeout_stops_a_backfill_waiting_on_a_pool_slot(api_url, tmp_path):
    env = platform_env(tmp_path, api_url)
    home = Path(env["DAGSTER_HOME"])
    # A slow API with small pages keeps the holder in its dlt step, holding the pool's only
    # slot, for minutes: far longer than the waiting backfill needs to start and queue.
    slow = dataclasses.replace(ApiSettings.from_env({}), latency_ms=1500)
    with running_api(slow) as slow_url:
        holder_env = {**env, "JAFFLE_API_URL": slow_url, "JAFFLE_API_PAGE_SIZE": "10"}
        holder = start_make(
            ["backfill", "START=2024-03-01", "END=2024-03-07"], holder_env, tmp_path / "a.log"
        )
        waiting = None
        try:
            wait_for(lambda: step_started(home, "raw_orders"), 240, "the first run's dlt step")
            (holder_run,) = runs_by_status(home)
            assert claimed_pool_slots(home) == [holder_run]
            # `timeout 600 make backfill ...`, as the README has it; its deadline is brought
            # forward (SIGALRM, what `timeout` sets itself) once the backfill waits on the slot.
            log = tmp_path / "waiting.log"
            # The run waiting on a slot ignores the interrupt, so it is killed once the grace
            # period is over: shortened here from its 30 s default (SUPERVISE_GRACE_S).
            waiting = subprocess.Popen(
                ["timeout", "-s", "TERM", "600", "make", "--no-print-directory", "backfill"]
                + ["START=2024-07-10", "END=2024-07-11"],
                cwd=PROJECT_ROOT,
                env={**os.environ, **env, "SUPERVISE_GRACE_S": str(WAITING_GRACE_S)},
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
            wait_for(
                lambda: "blocked by limit for pool duckdb" in log.read_text().lower(),
                240,
                "the second backfill to wait on the pool slot",
                0.5,
            )
            (waiting_run,) = set(runs_by_status(home)) - {holder_run}
            began = time.monotonic()
            os.kill(waiting.pid, signal.SIGALRM)
            waiting.wait(timeout=120)
            stopped_after = time.monotonic() - began
            output = log.read_text()
            assert waiting.returncode == 124, output[-3000:]
            # Stopped after the shortened grace period (not the 30 s default), and a little more.
            assert WAITING_GRACE_S <= stopped_after < WAITING_GRACE_S + 15, output[-3000:]
            # Nothing of the stopped backfill is left: no process, no unfinished run, no slot
            # or queued claim; the holder, still running, still holds the slot. Dagster does not
            # act on the interrupt while it waits for a slot: after the grace period the run's
            # process is killed (commands/supervise.py) and `make backfill` ends its run.
            wait_for(lambda: not processes_matching("2024-07-10...2024-07-11"), 30, "no process")
            assert f"The process of run {waiting_run}" in output, output[-3000:]
            assert runs_by_status(home)[waiting_run] == dg.DagsterRunStatus.FAILURE
            assert holder.poll() is None
            assert runs_by_status(home)[holder_run] == dg.DagsterRunStatus.STARTED
            assert claimed_pool_slots(home) == [holder_run]
            assert waiting_run not in pending_pool_runs(home)
        finally:
            kill_tree(holder.pid)
            holder.wait()
            if waiting is not None:
                kill_tree(waiting.pid)
                waiting.wait()


def test_make_dev_stops_on_sigterm_leaving_no_process(api_url, tmp_path):
    env = platform_env(tmp_path, api_url)
    api_port, dagster_port = free_port(), free_port()
    env.update(
        API_PORT=str(api_port),
        DAGSTER_PORT=str(dagster_port),
        JAFFLE_API_URL=f"http://127.0.0.1:{api_port}/api/v1",
    )
    dev = start_make(["dev"], env, tmp_path / "dev.log")
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{dagster_port}/server_info"), 240, "the UI")
        wait_for(lambda: _answers(f"http://127.0.0.1:{api_port}/health"), 30, "the API")
        tree = [dev.pid, *descendants(dev.pid)]
        assert len(tree) >= 5  # make, launcher, API, dagster dev, webserver, daemon, ...
        os.killpg(dev.pid, signal.SIGTERM)  # what `timeout` or a process manager sends
        dev.wait(timeout=60)
        wait_for(lambda: not [p for p in tree if _alive(p)], 30, "every process to exit")
        assert not _answers(f"http://127.0.0.1:{dagster_port}/server_info")
        assert not _answers(f"http://127.0.0.1:{api_port}/health")
    finally:
        kill_tree(dev.pid)


def _dbt_relations(warehouse: Path) -> set[tuple[str, str]]:
    """The tables and views of dbt's schemas (staging, marts) in `warehouse`."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return set(
            con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('staging', 'marts') and table_name not like '%__dbt_tmp'"
            ).fetchall()
        )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _mkdir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def test_only_dead_runs_of_this_machine_are_ended():
    from dagster._core.test_utils import create_run_for_test

    from orchestration.recovery import reclaim_dead_runs

    host = socket.gethostname()
    dead_pid = str(2**22 + 12345)  # beyond Linux's pid_max: no such process
    with dg.instance_for_test() as instance:
        runs = {
            name: create_run_for_test(
                instance,
                job_name="__ASSET_JOB",
                status=dg.DagsterRunStatus.STARTED,
                tags={"trifecta/host": run_host, "trifecta/pid": pid},
            ).run_id
            for name, run_host, pid in [
                ("dead here", host, dead_pid),
                ("alive here", host, str(os.getpid())),
                ("elsewhere", "another-machine", dead_pid),
            ]
        }
        reclaimed = reclaim_dead_runs(instance, log=lambda message: None)
        statuses = {name: instance.get_run_by_id(run_id).status for name, run_id in runs.items()}
    assert [run.run_id for run in reclaimed] == [runs["dead here"]]
    assert statuses == {
        "dead here": dg.DagsterRunStatus.FAILURE,
        "alive here": dg.DagsterRunStatus.STARTED,
        "elsewhere": dg.DagsterRunStatus.STARTED,
    }
