"""Alerts on the production topology: `make serve` (code server, webserver and daemon as separate
processes) on a Postgres instance, where the sensors run in the daemon and read run storage over
TCP. A failed run, a failed blocking check and each stale mart reach the Slack stand-in once.
"""

import dataclasses
import time

import requests

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from tests.dagster_dev import free_port
from tests.processes import kill_tree, start_make, wait_for
from tests.slack_standin import TOKEN, WEBSERVER, running_slack
from tests.test_alerts_daemon import (
    LAUNCH_RUN,
    LOCATION,
    RUN_STATUS,
    run_the_schedule_once,
    sensor_ticks,
)
from tests.test_topology import production_home, webserver_ready

SENSOR_INTERVAL_S = 3
ALERT_SENSORS = ("slack_on_check_failure", "slack_on_pending_run_alerts", "slack_on_run_failure")
DAILY_MARTS = ("marts/daily_revenue", "marts/order_items", "marts/orders")
# The stand-in's first day of orders is the range's second day: the first has none, so the
# blocking check `orders_present_every_day` fails on real data and the run stops there.
EMPTY_DAY, FIRST_DAY = "2024-01-01", "2024-01-02"


def graphql(base_url: str, query: str, **variables) -> dict:
    answer = requests.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables}, timeout=30
    )
    answer.raise_for_status()
    body = answer.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_a_failed_run_a_failed_blocking_check_and_stale_marts_each_alert_once(
    tmp_path, dagster_postgres, monkeypatch
):
    for name, value in dagster_postgres.dagster_env().items():
        monkeypatch.setenv(name, value)  # this process reads the instance too
    home = production_home(tmp_path)
    api_port, webserver_port, code_server_port = free_port(), free_port(), free_port()
    (tmp_path / "tmp").mkdir()
    down = dataclasses.replace(ApiSettings.from_env({}), outage=True)
    with running_slack(TOKEN) as slack, running_api(down) as down_url:
        env = {
            **dagster_postgres.dagster_env(),
            "DAGSTER_HOME": str(home),
            "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "API_PORT": str(api_port),
            "JAFFLE_API_URL": down_url,
            "JAFFLE_API_FIRST_DAY": FIRST_DAY,
            "DAGSTER_PORT": str(webserver_port),
            "DAGSTER_CODE_SERVER_PORT": str(code_server_port),
            "TMPDIR": str(tmp_path / "tmp"),
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.base_url,
            "DAGSTER_WEBSERVER_URL": WEBSERVER,
            "ALERT_SENSOR_INTERVAL_S": str(SENSOR_INTERVAL_S),
            "STEP_RETRY_DELAY_S": "1",
            "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
            "DO_NOT_TRACK": "1",
        }
        # The daily schedule has had its chance (and failed) before the platform starts, so the
        # marts are in service: their lateness is an incident.
        run_the_schedule_once(env)
        env["JAFFLE_API_URL"] = f"http://127.0.0.1:{api_port}/api/v1"  # make serve's own API
        process = start_make(["serve"], env, tmp_path / "serve.log")
        base_url = f"http://127.0.0.1:{webserver_port}"
        log = tmp_path / "serve.log"
        try:
            wait_for(
                lambda: webserver_ready(base_url) or process.poll() is not None,
                timeout_s=300,
                what="make serve's webserver to load the code location",
                poll_s=1,
            )
            assert process.poll() is None, log.read_text()[-3000:]
            run_id = launch_range(base_url)
            wait_for(
                lambda: status(base_url, run_id) in {"FAILURE", "SUCCESS"},
                timeout_s=300,
                what="the run",
                poll_s=1,
            )
            assert status(base_url, run_id) == "FAILURE"

            needles = [
                f"/runs/{run_id}|",
                "*Check failed:* `orders_present_every_day` on `raw/orders` (ERROR)",
                *[f":hourglass: *Stale:* `{mart}`" for mart in DAILY_MARTS],
            ]
            wait_for(
                lambda: all(slack.messages_about(n) for n in needles),
                timeout_s=180,
                what=f"each alert in Slack ({[m.text[:60] for m in slack.messages]})",
                poll_s=1,
            )
            # Then every alert sensor ticks three more times: nothing is sent twice.
            arrived = time.time()
            wait_for(
                lambda: all(
                    len([t for t in sensor_ticks(str(home), s) if t.timestamp > arrived]) >= 3
                    for s in ALERT_SENSORS
                ),
                timeout_s=120,
                what="three more ticks of each alert sensor",
                poll_s=1,
            )
        finally:
            kill_tree(process.pid)
            process.wait()

    for needle in needles:
        assert len(slack.messages_about(needle)) == 1, needle
    [run_alert] = slack.messages_about(f"/runs/{run_id}|")
    assert f"*Partitions:* `{EMPTY_DAY}` to `{FIRST_DAY}`" in run_alert.text
    assert "orders_present_every_day" in run_alert.text  # the blocking check stopped the run


def launch_range(base_url: str) -> str:
    """Materialize raw/orders with its checks for the two days, as the UI's button does."""
    [location] = graphql(base_url, LOCATION)["workspaceOrError"]["locationEntries"]
    params = {
        "selector": {
            "repositoryLocationName": location["name"],
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw", "orders"]}],
        },
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {
            "tags": [
                {"key": "dagster/asset_partition_range_start", "value": EMPTY_DAY},
                {"key": "dagster/asset_partition_range_end", "value": FIRST_DAY},
            ]
        },
    }
    launched = graphql(base_url, LAUNCH_RUN, executionParams=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def status(base_url: str, run_id: str) -> str | None:
    return (graphql(base_url, RUN_STATUS, runId=run_id)["runOrError"] or {}).get("status")
