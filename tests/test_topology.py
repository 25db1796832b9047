"""The production topology, for real: a Postgres instance (a throwaway cluster), `make backfill`
against it, and `make serve` (code server, webserver, daemon) driven through the webserver's
GraphQL API as the UI drives it, then stopped with SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import requests
from dagster._core.storage.tags import GRPC_INFO_TAG

from tests.dagster_dev import free_port
from tests.processes import (
    PROJECT_ROOT,
    command_line,
    descendants,
    kill_tree,
    make_backfill,
    start_make,
    wait_for,
)
from tests.support import fetch_all, query

FIRST_DAY, LAST_DAY = "2024-03-01", "2024-03-02"
BACKFILL_ENDED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

ASSETS_QUERY = "{ assetNodes { assetKey { path } isMaterializable isPartitioned } }"
LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
  }
}
"""


def production_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding the production instance config."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


def runs_in_postgres(settings) -> list[tuple[str, str, dict]]:
    """(run id, status, tags) of every run the Postgres instance holds."""
    with contextlib.closing(settings.connect()) as con, con.cursor() as cur:
        cur.execute("select run_id, status, run_body from runs order by create_timestamp")
        rows = cur.fetchall()
    return [
        (run_id, status, dict(dg.deserialize_value(body, dg.DagsterRun).tags))
        for run_id, status, body in rows
    ]


def orders_per_day(warehouse: Path) -> dict[str, int]:
    rows = query(
        warehouse,
        "select cast(order_date as varchar), count(*) from marts.orders group by 1 order by 1",
    )
    return dict(rows)


def api_orders_per_day(api_url: str) -> dict[str, int]:
    orders = fetch_all(api_url, "orders", start_date=FIRST_DAY, end_date=LAST_DAY)
    return dict(Counter(order["ordered_at"][:10] for order in orders))


def test_make_backfill_records_its_run_in_the_postgres_instance(
    tmp_path, api_url, dagster_postgres
):
    home = production_home(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        **dagster_postgres.dagster_env(),
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(warehouse),
        "JAFFLE_API_URL": api_url,
    }

    code, output = make_backfill(FIRST_DAY, LAST_DAY, env, tmp_path / "backfill.log")

    assert code == 0, output[-3000:]
    # make setup kept the production config and created the instance's tables in Postgres.
    assert (home / "dagster.yaml").read_text() == (
        PROJECT_ROOT / "deploy" / "dagster.yaml"
    ).read_text()
    assert not list(home.rglob("*.db")), "no SQLite storage beside the Postgres instance"
    runs = runs_in_postgres(dagster_postgres)
    assert [
        (status, tags.get("dagster/asset_partition_range_start")) for _, status, tags in runs
    ] == [("SUCCESS", FIRST_DAY)]
    assert orders_per_day(warehouse) == api_orders_per_day(api_url)


GRAPHQL_TIMEOUT_S = 30


def graphql(base_url: str, text: str, variables: dict | None = None) -> dict:
    answer = requests.post(
        f"{base_url}/graphql",
        json={"query": text, "variables": variables or {}},
        timeout=GRAPHQL_TIMEOUT_S,
    )
    answer.raise_for_status()
    body = answer.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def webserver_ready(base_url: str) -> bool:
    try:
        return bool(graphql(base_url, ASSETS_QUERY)["assetNodes"])
    except (requests.RequestException, AssertionError, KeyError, TypeError, ValueError):
        return False


def process_tree_by_name(root: int) -> dict[str, int]:
    """The pid of each service `make serve` started, by what its command line runs."""
    found = {}
    for pid in descendants(root):
        line = command_line(pid)
        if "code-server start" in line:
            found.setdefault("code-server", pid)
        elif "dagster-webserver" in line:
            found.setdefault("webserver", pid)
        elif "dagster-daemon run" in line:
            found.setdefault("daemon", pid)
        elif "-m jaffle_api" in line:
            found.setdefault("api", pid)
    return found


@pytest.fixture
def served(tmp_path, dagster_postgres):
    """`make serve` as a real process on free ports; yields its ports, pids and settings, and
    the test stops it itself (teardown kills whatever a failed test left)."""
    home = production_home(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    api_port, webserver_port, code_server_port = free_port(), free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}/api/v1"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {
        **dagster_postgres.dagster_env(),
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(warehouse),
        "API_PORT": str(api_port),
        "JAFFLE_API_URL": api_url,
        "DAGSTER_PORT": str(webserver_port),
        "DAGSTER_CODE_SERVER_PORT": str(code_server_port),
        "TMPDIR": str(tmpdir),
    }
    log = tmp_path / "serve.log"
    process = start_make(["serve"], env, log)
    base_url = f"http://127.0.0.1:{webserver_port}"
    try:
        wait_for(
            lambda: webserver_ready(base_url) or process.poll() is not None,
            timeout_s=300,
            what="make serve's webserver to load the code location",
            poll_s=1,
        )
        assert process.poll() is None, log.read_text()[-3000:]
        yield {
            "process": process,
            "base_url": base_url,
            "api_url": api_url,
            "warehouse": warehouse,
            "postgres": dagster_postgres,
            "home": home,
            "code_server_port": code_server_port,
            "log": log,
        }
    finally:
        kill_tree(process.pid)
        process.wait()


def test_make_serve_runs_a_backfill_launched_from_the_ui_and_stops_on_sigterm(served):
    process, base_url = served["process"], served["base_url"]
    services = process_tree_by_name(process.pid)
    assert set(services) == {"api", "code-server", "webserver", "daemon"}, services

    # As the UI's "Materialize all" for a partition range does.
    nodes = graphql(base_url, ASSETS_QUERY)["assetNodes"]
    selection = [{"path": n["assetKey"]["path"]} for n in nodes if n["isMaterializable"]]
    assert any(n["isPartitioned"] for n in nodes)
    launched = graphql(
        base_url,
        LAUNCH_BACKFILL,
        {
            "params": {
                "assetSelection": selection,
                "partitionNames": [FIRST_DAY, LAST_DAY],
                "title": "topology test",
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    # While the backfill runs, note every process under the code server: the run workers must
    # be among them (the code server launches the runs, not the webserver or the daemon).
    under_code_server: set[int] = set()

    def backfill_done():
        under_code_server.update(descendants(services["code-server"]))
        status = backfill_status(served["postgres"], backfill_id)
        return status if status in BACKFILL_ENDED else None

    status = wait_for(backfill_done, timeout_s=600, what="the backfill to finish", poll_s=0.5)

    runs = [
        r
        for r in runs_in_postgres(served["postgres"])
        if r[2].get("dagster/backfill") == backfill_id
    ]
    assert runs, "the daemon launched no run for the backfill"
    assert [r[1] for r in runs] == ["SUCCESS"] * len(runs), (
        status,
        runs,
        served["log"].read_text()[-3000:],
    )
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}
    for run_id, _, tags in runs:
        events = run_event_types(served["postgres"], run_id)
        # Queued by the run coordinator (the daemon alone dequeues and launches), then run.
        assert {"PIPELINE_ENQUEUED", "PIPELINE_SUCCESS"} <= events, events
        grpc = json.loads(tags[GRPC_INFO_TAG])
        assert (grpc["host"], grpc["port"]) == ("127.0.0.1", served["code_server_port"])
        assert executing_pid(served["postgres"], run_id) in under_code_server

    assert orders_per_day(served["warehouse"]) == api_orders_per_day(served["api_url"])

    every_pid = [process.pid, *descendants(process.pid)]
    os.killpg(process.pid, signal.SIGTERM)  # what `timeout` or a process manager sends
    process.wait(timeout=60)
    time.sleep(0.5)
    assert [pid for pid in every_pid if alive(pid)] == []


def backfill_status(settings, backfill_id: str) -> str | None:
    with contextlib.closing(settings.connect()) as con, con.cursor() as cur:
        cur.execute("select status from bulk_actions where key = %s", (backfill_id,))
        row = cur.fetchone()
    return row[0] if row else None


def run_event_types(settings, run_id: str) -> set[str]:
    with contextlib.closing(settings.connect()) as con, con.cursor() as cur:
        cur.execute(
            "select distinct dagster_event_type from event_logs where run_id = %s", (run_id,)
        )
        return {event_type for (event_type,) in cur if event_type}


def executing_pid(settings, run_id: str) -> int | None:
    """The pid the run recorded for the process that executed its steps."""
    with contextlib.closing(settings.connect()) as con, con.cursor() as cur:
        cur.execute(
            "select event from event_logs where run_id = %s and dagster_event_type = %s "
            "order by id",
            (run_id, "ENGINE_EVENT"),
        )
        for (body,) in cur:
            entry = dg.deserialize_value(body, dg.EventLogEntry)
            data = entry.dagster_event.engine_event_data if entry.dagster_event else None
            pid = data.metadata.get("pid") if data and data.metadata else None
            if pid is not None:
                return int(pid.value)
    return None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_supervise_all_stops_every_service_when_one_exits(tmp_path):
    from commands.supervise import Service, supervise_all

    pidfile = tmp_path / "sleeper.pid"
    sleeper = Service("sleeper", ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 120"])
    sleeper = Service(sleeper.name, sleeper.command, ready=pidfile.exists)
    quitter = Service("quitter", ["sh", "-c", "sleep 1; exit 3"])

    started = time.monotonic()
    assert supervise_all([sleeper, quitter], grace_s=5) == 3
    assert time.monotonic() - started < 10
    assert not alive(int(pidfile.read_text()))


def test_supervise_all_starts_nothing_after_a_service_that_never_gets_ready(tmp_path):
    from commands.supervise import Service, supervise_all

    never = Service("never", ["sleep", "120"], ready=lambda: False, ready_timeout_s=1)
    after = Service("after", ["touch", str(tmp_path / "started")])

    assert supervise_all([never, after], grace_s=5) == 1
    assert not (tmp_path / "started").exists()


@pytest.mark.parametrize("grace", ["soon", "0", "-5", "inf"])
def test_an_unusable_grace_period_starts_nothing_and_says_how_to_fix_it(
    tmp_path, monkeypatch, capsys, grace
):
    from commands.supervise import Service, supervise, supervise_all

    monkeypatch.setenv("SUPERVISE_GRACE_S", grace)
    marker = tmp_path / "started"
    assert supervise(["touch", str(marker)]) == 2
    assert supervise_all([Service("toucher", ["touch", str(marker)])]) == 2
    assert not marker.exists()
    message = capsys.readouterr().err
    assert f"SUPERVISE_GRACE_S={grace!r} must be a number of seconds above 0" in message
    assert "unset it to use the default" in message


def test_dagster_dev_keeps_its_state_in_the_postgres_instance(tmp_path, dagster_postgres):
    from tests.dagster_dev import running_dagster_dev

    home = production_home(tmp_path)
    env = {
        **dagster_postgres.dagster_env(),
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
    with running_dagster_dev(tmp_path, env) as base_url:
        info = graphql(base_url, "{ instance { info } }")["instance"]["info"]
        # The daemon records the schedules' and sensors' state in the instance.
        wait_for(
            lambda: instigators_in_postgres(dagster_postgres),
            timeout_s=120,
            what="the daemon to record schedule and sensor state",
        )
    assert "run_storage: PostgresRunStorage" in info
    assert "event_log_storage: PostgresEventLogStorage" in info
    assert "schedule_storage: PostgresScheduleStorage" in info
    assert not list(home.rglob("*.db"))


def instigators_in_postgres(settings) -> int:
    with contextlib.closing(settings.connect()) as con, con.cursor() as cur:
        cur.execute("select count(*) from instigators")
        return cur.fetchone()[0]
