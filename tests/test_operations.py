"""Operating the platform: faults in the API, retries, checks and the Slack alerts they send.

Real parts only: the stand-in API with faults switched on, dlt, dbt and DuckDB, in-process
Dagster runs on a temporary instance, the alert sensors evaluated as Dagster evaluates them,
and a local HTTP server speaking Slack's Web API.
"""

import collections
import dataclasses
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import uvicorn

from jaffle_api.app import API_PREFIX, create_app
from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.alerts.slack import slack_resource
from orchestration.definitions import defs
from tests.slack_standin import TOKEN, WEBSERVER
from tests.support import run_partition_range, warehouse_fingerprint

MONTH = ("2024-04-01", "2024-04-30")
RECONCILE = dg.AssetCheckKey(dg.AssetKey(["marts", "orders"]), "orders_reconcile_with_raw")
# The alert sensors as the platform registers them.
slack_on_run_failure = defs.get_sensor_def("slack_on_run_failure")
slack_on_check_failure = defs.get_sensor_def("slack_on_check_failure")


def run_range(
    instance, warehouse: Path, start: str, end: str, **kwargs
) -> dg.ExecuteInProcessResult:
    """Everything for the partitions `start`..`end` in one run, as `make backfill` does."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DUCKDB_PATH", str(warehouse))
        return run_partition_range(defs, instance, start, end, raise_on_error=False, **kwargs)


@pytest.fixture
def api_with(monkeypatch: pytest.MonkeyPatch):
    """Serve the stand-in with some settings changed and point the platform at it."""

    def serve(**changes) -> Iterator[str]:
        settings = dataclasses.replace(ApiSettings.from_env({}), **changes)
        return running_api(settings)

    return serve


@contextmanager
def counting_api(settings: ApiSettings) -> Iterator[tuple[str, collections.Counter]]:
    """The stand-in API over real HTTP, counting the statuses it answered on data paths."""
    statuses: collections.Counter = collections.Counter()
    app = create_app(settings)

    async def counted_app(scope, receive, send):
        async def counted_send(message):
            if message["type"] == "http.response.start":
                statuses[message["status"]] += 1
            await send(message)

        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await app(scope, receive, counted_send)
        else:
            await app(scope, receive, send)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(counted_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{API_PREFIX}", statuses
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def run_failure_tick(instance, cursor):
    """The run-failure sensor evaluated by Dagster's own run-status machinery."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"slack": slack_resource()}
    ) as context:
        return slack_on_run_failure.evaluate_tick(context)


def alert_run_failure(instance, result) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="slack_on_run_failure",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources={"slack": slack_resource()},
    )
    slack_on_run_failure(context)


def check_sensor_tick(instance, cursor):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"slack": slack_resource()}
    ) as context:
        slack_on_check_failure(context)
        return context.cursor


def test_a_month_backfill_through_20_percent_faults_equals_a_fault_free_one(
    api_url, tmp_path, slack, monkeypatch
):
    with dg.DagsterInstance.ephemeral() as instance:
        run_cursor = run_failure_tick(instance, None).cursor  # the sensors start watching now
        check_cursor = check_sensor_tick(instance, None)
        clean = run_range(instance, tmp_path / "clean.duckdb", *MONTH)
        assert clean.success
        faulty_api = dataclasses.replace(
            ApiSettings.from_env({}), error_rate=0.2, rate_limit_rate=0.2, fault_seed=11
        )
        with counting_api(faulty_api) as (faulty_url, statuses):
            monkeypatch.setenv("JAFFLE_API_URL", faulty_url)
            faulty = run_range(instance, tmp_path / "faulty.duckdb", *MONTH)
        assert faulty.success

        ticked = run_failure_tick(instance, run_cursor)
        check_sensor_tick(instance, check_cursor)

    # The faults were served, and retried: the data is the same as without them.
    faults = {code: n for code, n in statuses.items() if code >= 400}
    assert sum(faults.values()) >= 3 and statuses[200] > 10, statuses
    expected = warehouse_fingerprint(tmp_path / "clean.duckdb")
    assert expected["marts.orders"][0] > 4000  # a month at ~170 orders a day
    assert warehouse_fingerprint(tmp_path / "faulty.duckdb") == expected
    # A run that recovered on its own alerts nobody: the run-failure sensor saw no failed run,
    # and no check of the runs failed (the freshness of today's partitions is the freshness
    # sensor's business, not a backfill's of March 2024).
    assert ticked.dagster_run_reactions == []
    assert slack.messages == []


def test_a_permanent_outage_fails_after_retries_builds_no_marts_and_alerts_once(
    api_with, tmp_path, slack, monkeypatch
):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")  # fewer HTTP retries: a faster test
    with dg.DagsterInstance.ephemeral() as instance, api_with(outage=True) as down_url:
        monkeypatch.setenv("JAFFLE_API_URL", down_url)
        failed = run_range(instance, warehouse, "2024-05-01", "2024-05-03")
        assert not failed.success
        restarts = [e for e in failed.all_events if e.event_type_value == "STEP_RESTARTED"]
        # Each ingestion step was retried three times (after dlt's own HTTP retries).
        assert sorted(e.step_key for e in restarts) == ["raw_orders"] * 3 + ["raw_reference"] * 3

        alert_run_failure(instance, failed)
        again = run_range(instance, warehouse, "2024-05-01", "2024-05-03")
        alert_run_failure(instance, again)

    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            marts = con.execute(
                "select count(*) from information_schema.tables where table_schema = 'marts'"
            ).fetchone()[0]
        assert marts == 0
    [message] = slack.posts
    assert f"{WEBSERVER}/runs/{failed.run_id}" in message.text
    assert "2024-05-01" in message.text and "2024-05-03" in message.text
    assert "raw_orders" in message.text
    assert "503" in message.text
    assert TOKEN not in message.text
    # The same failure again within the hour updates that message instead of posting anew.
    [update] = slack.updates
    assert update.ts == message.ts and "2 times" in update.text


def test_a_failing_check_alerts_once_and_a_backfill_of_old_days_is_not_stale(
    api_url, tmp_path, slack
):
    warehouse = tmp_path / "warehouse.duckdb"
    with dg.instance_for_test() as instance:
        cursor = check_sensor_tick(instance, None)  # the sensor starts watching now
        loaded = run_range(instance, warehouse, "2024-06-01", "2024-06-02")
        assert loaded.success
        # Lose an order from the mart behind dbt's back: reconciliation with raw must fail.
        with duckdb.connect(str(warehouse)) as con:
            con.execute(
                "delete from marts.orders where order_id = "
                "(select min(order_id) from marts.orders where order_date = '2024-06-02')"
            )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DUCKDB_PATH", str(warehouse))
            checked = (
                defs.resolve_job_def("daily_refresh")
                .get_subset(asset_selection=set(), asset_check_selection={RECONCILE})
                .execute_in_process(
                    instance=instance, partition_key="2024-06-02", raise_on_error=False
                )
            )
        failing = [
            e for e in checked.get_asset_check_evaluations() if e.asset_check_key == RECONCILE
        ]
        assert [e.passed for e in failing] == [False]

        cursor = check_sensor_tick(instance, cursor)
        cursor = check_sensor_tick(instance, cursor)  # nothing new: nothing posted

    texts = [m.text for m in slack.posts]
    stale = [t for t in texts if "freshness" in t.lower()]
    reconciliation = [t for t in texts if "orders_reconcile_with_raw" in t]
    # June 2024 is long past, yet the run answers for its own days only: yesterday's lateness is
    # the freshness sensor's (orchestration/checks/freshness.py).
    assert stale == []
    assert len(reconciliation) == 1 and "2024-06-02" in reconciliation[0]
    assert len(texts) == 1
