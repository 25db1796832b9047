"""A failed dbt step, retried by Dagster, rebuilds only what failed and what it had skipped."""

import json
import os
import signal
import threading
import time

import dagster as dg
import duckdb

from orchestration.definitions import defs
from tests.processes import command_line, descendants
from tests.support import fetch_all, run_partition_range
from transform.invocation import step_target_path
from transform.project import manifest_path

DAY = "2024-07-01"


def _rename(warehouse, old: str, new: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"alter table raw.{old} rename to {new}")


def _dbt_keys(*, partitioned: bool) -> list[dg.AssetKey]:
    """The dbt step's daily marts, or its whole models: a run builds one or the other."""
    dbt_models = next(a for a in defs.assets if a.node_def.name == "dbt_models")
    return [
        key
        for key, spec in dbt_models.specs_by_key.items()
        if (spec.partitions_def is not None) == partitioned
    ]


def _project_name() -> str:
    return json.loads(manifest_path().read_text())["metadata"]["project_name"]


def _with_descendants(unique_id: str) -> set[str]:
    """The dbt node and every node downstream of it, from the manifest."""
    children = json.loads(manifest_path().read_text())["child_map"]
    found, todo = set(), [unique_id]
    while todo:
        node = todo.pop()
        if node not in found:
            found.add(node)
            todo.extend(children.get(node, []))
    return found


def _restore_when_retry_is_scheduled(instance, warehouse, done: threading.Event) -> None:
    """Put raw.supplies back while Dagster waits to retry the dbt step: a transient failure."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not done.is_set():
        for run in instance.get_runs(limit=1):
            records = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
            if any(r.step_key == "dbt_models" for r in records):
                _rename(warehouse, "supplies_aside", "supplies")
                return
        time.sleep(0.2)


def test_a_retried_dbt_step_rebuilds_only_what_failed(api_url, warehouse):
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_partition_range(defs, instance, DAY, DAY).success
        _rename(warehouse, "supplies", "supplies_aside")  # stg_supplies cannot build now

        done = threading.Event()
        watcher = threading.Thread(
            target=_restore_when_retry_is_scheduled, args=(instance, warehouse, done)
        )
        watcher.start()
        try:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance,
                asset_selection=_dbt_keys(partitioned=False),
                raise_on_error=False,
            )
        finally:
            done.set()
            watcher.join()

    assert result.success
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert [e.step_key for e in restarts] == ["dbt_models"]
    results = json.loads((step_target_path("dbt_models") / "run_results.json").read_text())
    rebuilt = {r["unique_id"] for r in results["results"]}
    # What failed (stg_supplies) and everything dbt skipped because of it, models and tests:
    # nothing else is rebuilt.
    assert rebuilt == _with_descendants(f"model.{_project_name()}.stg_supplies")
    # The retried models are recorded as materialized by the step, and the data is there.
    materialized = {m.asset_key for m in result.asset_materializations_for_node("dbt_models")}
    assert dg.AssetKey(["marts", "supplies"]) in materialized
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.supplies").fetchone()[0] > 0


def _unset_when_retry_is_scheduled(instance, step: str, name: str, done: threading.Event):
    """Drop the environment variable `name` once Dagster has scheduled a retry of `step`."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not done.is_set():
        for run in instance.get_runs(limit=1):
            records = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
            if any(r.step_key == step for r in records):
                os.environ.pop(name, None)
                return
        time.sleep(0.2)


def test_a_retry_after_dbt_failed_to_start_builds_this_partition_not_an_older_one(
    api_url, warehouse, monkeypatch
):
    day = "2024-07-02"
    with dg.DagsterInstance.ephemeral() as instance:
        # An earlier run of another partition leaves its run_results.json in the step's folder.
        assert run_partition_range(defs, instance, DAY, DAY).success
        folder = step_target_path("dbt_models")
        assert (folder / "run_results.json").exists()
        earlier = json.loads((folder / "dagster_invocation.json").read_text())
        assert earlier["window"] == {"DBT_MIN_DATE": DAY, "DBT_MAX_DATE": DAY}

        # The first attempt of the dbt step fails in dbt's start-up (an unknown profile
        # target), before dbt writes any results of its own; the retry starts cleanly.
        monkeypatch.setenv("DBT_TARGET", "no_such_target")
        done = threading.Event()
        watcher = threading.Thread(
            target=_unset_when_retry_is_scheduled,
            args=(instance, "dbt_models", "DBT_TARGET", done),
        )
        watcher.start()
        try:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey(["raw", "orders"]), *_dbt_keys(partitioned=True)],
                partition_key=day,
                raise_on_error=False,
            )
        finally:
            done.set()
            watcher.join()

    restarts = [e.step_key for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert restarts == ["dbt_models"]
    assert result.success
    served = fetch_all(api_url, "orders", start_date=day, end_date=day)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        built = con.execute(
            "select count(*) from marts.orders where order_date = ?", [day]
        ).fetchone()[0]
        revenue_days = con.execute(
            "select count(distinct order_date) from marts.daily_revenue"
        ).fetchone()[0]
    assert built == len(served) > 0
    assert revenue_days == 2


def _interrupt_dbt_alone_once_it_built_a_model(done: threading.Event) -> None:
    """SIGINT to the dbt process only, once its log shows a first model built: dbt writes a
    run_results.json of the nodes it finished and exits 2, while the run itself goes on."""
    log = step_target_path("dbt_models") / "dbt.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not done.is_set():
        if log.exists() and " OK created " in log.read_text(errors="replace"):
            for pid in descendants(os.getpid()):
                if "dbt build" in command_line(pid):
                    os.kill(pid, signal.SIGINT)
                    return
        time.sleep(0.05)


def test_a_retry_after_dbt_stopped_midway_rebuilds_the_whole_step(api_url, warehouse):
    step_target_path("dbt_models").mkdir(parents=True, exist_ok=True)
    (step_target_path("dbt_models") / "dbt.log").unlink(missing_ok=True)
    done = threading.Event()
    watcher = threading.Thread(target=_interrupt_dbt_alone_once_it_built_a_model, args=(done,))
    with dg.DagsterInstance.ephemeral() as instance:
        watcher.start()
        try:
            result = run_partition_range(defs, instance, DAY, DAY, raise_on_error=False)
        finally:
            done.set()
            watcher.join()
        messages = [record.user_message for record in instance.all_logs(result.run_id)]

    restarts = [e.step_key for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert restarts == ["dbt_models"]
    assert any("left partial (dbt exit code 2) dbt results" in m for m in messages), messages
    assert result.success
    # Every model was built by the run, and its relation exists.
    built = {m.asset_key for m in result.asset_materializations_for_node("dbt_models")}
    assert built == set(_dbt_keys(partitioned=True)) | set(_dbt_keys(partitioned=False))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = set(
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )
    assert {tuple(key.path) for key in built} <= relations
