"""Slack alerts through the real daemon: one `dagster dev` on a temporary instance (the shipped
dagster.yaml), the alert sensors as the platform registers them and as the daemon ticks them,
runs that fail for real (from the CLI and from the webserver), a check that fails on real data,
stale marts, and a Slack stand-in that is down, rate limiting, or healthy.

Each alert must reach Slack exactly once: a message is counted by the link to its run (or by
its check), and after it arrived the sensors tick a few more times before the count is taken.
"""

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.alerts.run_failure import PENDING_KEY
from tests.dagster_dev import DAGSTER, PROJECT_ROOT, running_dagster_dev
from tests.slack_standin import TOKEN, WEBSERVER, SlackStandIn, running_slack

SENSOR_INTERVAL_S = 4
SETTLE_S = 2 * SENSOR_INTERVAL_S + 2
"""After an alert arrived: long enough for every alert sensor to tick twice more."""
CLI_RANGE = ("2024-05-01", "2024-05-03")

LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
LOCATION = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
RUN_STATUS = "query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
RUNS_TAGGED = """
query Runs($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) { ... on Runs { results { runId status } } }
}
"""


@dataclasses.dataclass
class Platform:
    """The running platform: `dagster dev`, its instance, and the Slack stand-in."""

    folder: Path
    env: dict[str, str]
    slack: SlackStandIn
    stack: contextlib.ExitStack
    base_url: str = ""

    def start(self) -> None:
        self.base_url = self.stack.enter_context(running_dagster_dev(self.folder, self.env))

    def restart(self, while_stopped: Callable[[], None] = lambda: None) -> None:
        self.stack.close()
        while_stopped()
        self.stack = contextlib.ExitStack()
        self.start()

    def graphql(self, query: str, **variables) -> dict[str, Any]:
        answer = requests.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables},
            timeout=30,
        )
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def launch(self, partition: str, assets=(), checks=()) -> str:
        """Launch a run as the UI's Materialize / Execute buttons do; returns its id."""
        [location] = self.graphql(LOCATION)["workspaceOrError"]["locationEntries"]
        params = {
            "selector": {
                "repositoryLocationName": location["name"],
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": list(key)} for key in assets],
                "assetCheckSelection": [
                    {"assetKey": {"path": list(key)}, "name": name} for key, name in checks
                ],
            },
            "mode": "default",
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        launched = self.graphql(LAUNCH_RUN, executionParams=params)["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def run_status(self, run_id: str) -> str | None:
        return (self.graphql(RUN_STATUS, runId=run_id)["runOrError"] or {}).get("status")

    def pending_run_alerts(self) -> str:
        """The run alerts waiting for Slack, as the instance stores them."""
        with dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"]) as instance:
            return instance.run_storage.get_cursor_values({PENDING_KEY}).get(PENDING_KEY, "")

    def log_tail(self) -> str:
        log = self.folder / "dagster_dev.log"
        return log.read_text()[-4000:] if log.exists() else ""

    def wait_for(self, what: str, condition: Callable[[], Any], timeout_s: float = 120) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(1)
        attempts = [(a.method, a.status) for a in self.slack.attempts][-10:]
        texts = [m.text.splitlines()[0] for m in self.slack.messages]
        pytest.fail(
            f"timed out waiting for {what}; Slack attempts {attempts}, messages {texts}\n"
            f"dagster dev log:\n{self.log_tail()}"
        )

    def wait_for_run(self, run_id: str, status: str = "FAILURE") -> None:
        self.wait_for(f"run {run_id} {status}", lambda: self.run_status(run_id) == status)

    def alerts_for_run(self, run_id: str) -> list:
        return self.slack.messages_about(f"/runs/{run_id}|")

    def assert_alerted_once(self, what: str, *needles: str) -> list[str]:
        """Wait for a message with each needle, let the sensors tick on, then expect each
        exactly once; returns their texts."""
        self.wait_for(
            what, lambda: all(self.slack.messages_about(n) for n in needles), timeout_s=60
        )
        latest = max(self.slack.messages_about(n)[0].at for n in needles)
        time.sleep(max(0.0, latest + SETTLE_S - time.monotonic()))
        texts = []
        for needle in needles:
            [message] = self.slack.messages_about(needle)
            texts.append(message.text)
        return texts


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    folder = tmp_path_factory.mktemp("alerts_daemon")
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # the shipped config
    api_down = dataclasses.replace(ApiSettings.from_env({}), outage=True)
    with running_slack(TOKEN) as slack, running_api(api_down) as down_url:
        env = {
            "DAGSTER_HOME": str(home),
            "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
            "JAFFLE_API_URL": down_url,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.base_url,
            "SLACK_CHANNEL": "#data-alerts",
            "DAGSTER_WEBSERVER_URL": WEBSERVER,
            "ALERT_SENSOR_INTERVAL_S": str(SENSOR_INTERVAL_S),
            "STEP_RETRY_DELAY_S": "1",
            "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
            "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.2",
            "DO_NOT_TRACK": "1",
        }
        running = Platform(folder, env, slack, contextlib.ExitStack())
        running.start()
        try:
            yield running
        finally:
            running.stack.close()


@dataclasses.dataclass(frozen=True)
class Started:
    cli: subprocess.Popen
    webserver_run: str
    check_run: str


@pytest.fixture(scope="module")
def started(platform) -> Iterator[Started]:
    """The failures of the tests with a healthy Slack, started together so that they overlap:
    a CLI backfill and a run from the webserver against the API that is down, and a check on a
    warehouse that lost an order."""
    # The warehouse as a run would leave it, but with one order of 2024-06-02 lost from the mart.
    with duckdb.connect(platform.env["DUCKDB_PATH"]) as con:
        con.execute("create schema raw; create schema marts")
        con.execute("create table raw.orders (id varchar, ordered_at timestamp, order_total int)")
        con.execute(
            "insert into raw.orders values ('a', '2024-06-02 09:00', 1250),"
            " ('b', '2024-06-02 17:30', 800)"
        )
        con.execute(
            "create table marts.orders (order_id varchar, order_date date, order_total decimal)"
        )
        con.execute("insert into marts.orders values ('a', '2024-06-02', 12.50)")
    start, end = CLI_RANGE
    cli = subprocess.Popen(
        [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*"]
        + ["--partition-range", f"{start}...{end}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **platform.env},
        stdout=(platform.folder / "cli.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield Started(
            cli=cli,
            webserver_run=platform.launch("2024-05-10", assets=[("raw", "orders")]),
            check_run=platform.launch(
                "2024-06-02", checks=[(("marts", "orders"), "orders_reconcile_with_raw")]
            ),
        )
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
        cli.wait()


def test_a_backfill_from_the_cli_that_fails_alerts_once(platform, started):
    assert started.cli.wait(timeout=300) != 0, (platform.folder / "cli.log").read_text()[-2000:]
    start, end = CLI_RANGE
    tags = [{"key": "dagster/asset_partition_range_start", "value": start}]
    [run] = platform.graphql(RUNS_TAGGED, tags=tags)["runsOrError"]["results"]
    assert run["status"] == "FAILURE"

    [text] = platform.assert_alerted_once("the CLI run's alert", f"/runs/{run['runId']}|")
    assert f"*Partitions:* `{start}` to `{end}`" in text
    assert "503" in text  # what the API answered, at the root of the failure


def test_a_run_launched_from_the_webserver_that_fails_alerts_once(platform, started):
    platform.wait_for_run(started.webserver_run)

    [text] = platform.assert_alerted_once(
        "the webserver run's alert", f"/runs/{started.webserver_run}|"
    )
    assert "*Partition:* `2024-05-10`" in text and "raw/orders" in text


def test_an_error_check_failing_on_real_data_alerts_once(platform, started):
    platform.wait_for_run(started.check_run, "SUCCESS")  # a failed check does not fail its run

    [text] = platform.assert_alerted_once(
        "the reconciliation check's alert", "*Check failed:* `orders_reconcile_with_raw`"
    )
    assert "(ERROR)" in text and "mart_orders = 1" in text and "raw_orders = 2" in text


def test_stale_daily_marts_each_alert_once(platform):
    # The freshness checks' own sensor runs them from the start: on this empty instance no day
    # of the daily marts was ever materialized, so each mart is late.
    marts = ("marts/orders", "marts/order_items", "marts/daily_revenue")
    texts = platform.assert_alerted_once(
        "the stale marts", *[f":hourglass: *Stale:* `{mart}`" for mart in marts]
    )
    assert all("freshness check" in text for text in texts)


def test_an_alert_slack_refuses_then_rate_limits_across_a_restart_is_sent_once(platform):
    platform.slack.go_down(500)
    try:
        run_id = platform.launch("2024-05-20", assets=[("raw", "orders")])
        platform.wait_for_run(run_id)
        # The run-failure sensor tried, Slack refused, Dagster's cursor moved on: the alert waits.
        platform.wait_for("the alert to wait", lambda: run_id in platform.pending_run_alerts())
        # Then Slack rate-limits for a while: the pending sensor's retries are refused too.
        platform.slack.go_down(429)
        seen = len(platform.slack.attempts)
        platform.wait_for(
            "a rate-limited retry",
            lambda: any(a.status == 429 for a in platform.slack.attempts[seen:]),
        )
        assert platform.alerts_for_run(run_id) == []
        # Dagster stops while Slack still refuses; Slack recovers before Dagster is back.
        platform.restart(while_stopped=platform.slack.recover)
    finally:
        platform.slack.recover()

    platform.assert_alerted_once("the alert after the restart", f"/runs/{run_id}|")
    assert run_id not in platform.pending_run_alerts()
