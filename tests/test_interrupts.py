"""A stop signal is not a failure: Ctrl-C or SIGTERM while dbt builds ends the run CANCELED,
with no step retried and no model reported built that dbt did not finish."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.processes import kill_tree, start_make, wait_for
from tests.support import REFERENCE_DAYS

START, END = REFERENCE_DAYS


def _dbt_built_a_model(dbt_log: Path) -> bool:
    """dbt's own log of the step says a first model is built: the kill lands mid-build, not
    in dbt's start-up or parse."""
    return dbt_log.exists() and " OK created " in dbt_log.read_text(errors="replace")


def _relations(warehouse: Path) -> set[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return set(
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_during_dbt_cancels_the_backfill_and_retries_nothing(api_url, tmp_path, stop):
    home = tmp_path / "dagster_home"
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(warehouse),
        "JAFFLE_API_URL": api_url,
        "TMPDIR": str(tmp_path),
    }
    backfill = start_make(["backfill", f"START={START}", f"END={END}"], env, tmp_path / "log")
    try:
        dbt_log = tmp_path / "warehouse.dbt" / "dbt_models" / "dbt.log"
        wait_for(lambda: _dbt_built_a_model(dbt_log), 300, "dbt to build its first model")
        # Ctrl-C reaches the terminal's foreground group; SIGTERM a process manager's target.
        os.killpg(backfill.pid, stop)
        backfill.wait(timeout=90)
    finally:
        kill_tree(backfill.pid)
    output = (tmp_path / "log").read_text()
    assert backfill.returncode != 0, output[-3000:]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        events = [record.dagster_event for record in instance.all_logs(run.run_id)]
        materialized = {
            tuple(record.dagster_event.asset_key.path)
            for record in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
        }
    assert run.status == dg.DagsterRunStatus.CANCELED, output[-3000:]
    types = [event.event_type for event in events if event is not None]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types
    assert dg.DagsterEventType.STEP_RESTARTED not in types
    canceling = next(e for e in events if e and e.event_type == dg.DagsterEventType.RUN_CANCELING)
    assert "did not finish: dbt_models" in canceling.message

    # What dbt finished is reported built, and nothing else was built: on this fresh warehouse
    # the relations of dbt's schemas are exactly the models reported materialized.
    reported = {key for key in materialized if key[0] in ("staging", "marts")}
    existing = {
        (schema, name)
        for schema, name in _relations(warehouse)
        if schema in ("staging", "marts") and not name.endswith("__dbt_tmp")
    }
    assert reported, "dbt finished no model before the stop"
    assert existing == reported
