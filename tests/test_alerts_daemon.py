"""Slack alerts through the real daemon: one `dagster dev` on a temporary instance (the shipped
dagster.yaml), the alert sensors as the platform registers them and as the daemon ticks them,
runs that fail for real (from the CLI and from the webserver), a check that fails on real data,
stale marts, and a Slack stand-in that is down, rate limiting, or healthy.

Each alert must reach Slack exactly once: a message is counted by the link to its run (or by
its check), and after it arrived the sensors tick a few more times before the count is taken.

Before `dagster dev` first starts, a CLI run is killed and marked failed, as `make backfill`'s
pre-flight does, while no daemon runs: marked for a retry that can never come, it must still
alert once. And `make dev` with a token Slack refuses says so in one line and skips the alert
sensors' ticks with it.
"""

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests
from dagster._core.scheduler.instigation import InstigatorTick, InstigatorType

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.alerts.run_failure import PENDING_KEY
from orchestration.executor import PID_TAG
from orchestration.recovery import reclaim_dead_runs
from tests.dagster_dev import DAGSTER, PROJECT_ROOT, free_port, location_loaded, running_dagster_dev
from tests.processes import kill_tree, start_make
from tests.slack_standin import TOKEN, WEBSERVER, SlackStandIn, running_slack

SENSOR_INTERVAL_S = 4
SETTLE_TICKS = 2
"""After an alert arrived, every alert sensor ticks this many times more before the count."""
CLI_RANGE = ("2024-05-01", "2024-05-03")
STRANDED_DAY = "2024-04-01"

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
    stranded_run: str = ""

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
        arrived = time.time()
        self.wait_for(
            f"{SETTLE_TICKS} more ticks of each alert sensor",
            lambda: _ticked(
                self.env["DAGSTER_HOME"],
                SETTLE_TICKS,
                after=arrived,
                sensors=(*ALERT_SENSORS, "slack_on_run_failure"),
            ),
            timeout_s=60,
        )
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
        with dg.DagsterInstance.from_config(str(home)):
            pass  # its storage created once, before two processes could race to create it
        running.stranded_run = strand_a_cli_run(folder, env)  # while no daemon runs
        run_the_schedule_once(env)
        running.start()
        try:
            yield running
        finally:
            running.stack.close()


def strand_a_cli_run(folder: Path, env: dict[str, str]) -> str:
    """A `dagster asset materialize` run killed mid-step, then marked failed by the platform's
    recovery as `make backfill`'s pre-flight does: Dagster marks it for a retry (a run whose
    process died, dagster.yaml's run_retries), which its daemon can never launch for a CLI run.
    Returns its id."""
    with socket.socket() as silent:  # an API that takes the connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host, port = silent.getsockname()
        cli = subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions"]
            + ["--select", "raw/orders", "--partition", STRANDED_DAY],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env, "JAFFLE_API_URL": f"http://{host}:{port}/api/v1"},
            stdout=(folder / "stranded_cli.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while not (run := _run_with_process(env["DAGSTER_HOME"])):
                assert cli.poll() is None and time.monotonic() < deadline, (
                    folder / "stranded_cli.log"
                ).read_text()[-3000:]
                time.sleep(0.5)
        finally:
            kill_tree(cli.pid)  # as when the laptop's lid closes
            cli.wait()
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [reclaimed] = reclaim_dead_runs(instance, log=lambda _: None)
        assert reclaimed.run_id == run
        marked = instance.get_run_by_id(run)
        assert marked.status == dg.DagsterRunStatus.FAILURE
        assert marked.tags["dagster/will_retry"] == "true"
    return run


def run_the_schedule_once(env: dict[str, str]) -> None:
    """The daily schedule's run of yesterday, as its daemon tick launches it, failing (the API is
    down): the schedule has had its chance, so the daily marts are in service and their lateness
    is an incident, not first-day noise (orchestration/alerts/never_built.py)."""
    from orchestration.definitions import defs

    schedule = defs.get_schedule_def("daily_refresh_schedule")
    with (
        pytest.MonkeyPatch.context() as patch,
        dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance,
    ):
        for name, value in env.items():
            patch.setenv(name, value)
        with dg.build_schedule_context(instance=instance) as context:
            [request] = schedule.evaluate_tick(context).run_requests
        result = defs.resolve_job_def("daily_refresh").execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            tags={**request.tags, **dg.DagsterRun.tags_for_schedule(schedule)},
            raise_on_error=False,
        )
    assert not result.success


def _run_with_process(home: str) -> str | None:
    """The id of the run whose steps' process has started, if any."""
    with dg.DagsterInstance.from_config(home) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        return next((run.run_id for run in runs if PID_TAG in run.tags), None)


def sensor_ticks(home: str, sensor: str) -> list[InstigatorTick]:
    """The sensor's ticks as the daemon recorded them in the instance, newest first."""
    with dg.DagsterInstance.from_config(home) as instance:
        states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        for state in states:
            if state.instigator_name == sensor:
                return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return []


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
    # The freshness checks' own sensor runs them from the start: no day of the daily marts was
    # ever materialized and the schedule's run failed, so each mart is late.
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


def test_a_cli_run_marked_for_a_retry_that_never_comes_alerts_once(platform):
    run_id = platform.stranded_run

    [text] = platform.assert_alerted_once("the stranded run's alert", f"/runs/{run_id}|")
    assert f"*Partition:* `{STRANDED_DAY}`" in text
    assert "*Not retried:* marked for a retry that never came; started outside a code location" in (
        text
    )
    assert "is gone: it was killed or crashed" in text  # what the platform's recovery recorded
    with dg.DagsterInstance.from_config(platform.env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(run_id).tags["dagster/will_retry"] == "false"


def test_with_a_good_token_the_alert_sensors_say_nothing_of_slack(platform):
    home = platform.env["DAGSTER_HOME"]
    platform.wait_for("two ticks of each alert sensor", lambda: _ticked(home, 2), timeout_s=60)
    for sensor in ALERT_SENSORS:
        reasons = [tick.skip_reason or "" for tick in sensor_ticks(home, sensor)]
        assert not [r for r in reasons if "Slack alerts cannot be sent" in r], (sensor, reasons)
    assert "Slack alerts" not in platform.log_tail()


ALERT_SENSORS = ("slack_on_check_failure", "slack_on_pending_run_alerts")
REFUSED = (
    "Slack alerts cannot be sent (invalid_auth): Slack does not know SLACK_BOT_TOKEN; set "
    "SLACK_BOT_TOKEN to the bot token (xoxb-...) of a Slack app in your workspace, then restart."
)


def _ticked(
    home: str,
    count: int,
    reason: str | None = None,
    after: float = 0,
    sensors: tuple[str, ...] = ALERT_SENSORS,
) -> bool:
    """Whether each alert sensor has ticked `count` times (after `after`, with `reason`)."""
    return all(
        len(
            [
                t
                for t in sensor_ticks(home, s)
                if (reason is None or t.skip_reason == reason) and t.timestamp > after
            ]
        )
        >= count
        for s in sensors
    )


def _first_run_ended_at(home: str) -> float | None:
    with dg.DagsterInstance.from_config(home) as instance:
        ended = instance.get_run_records(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
            ),
            limit=1,
            ascending=True,
        )
        return ended[0].end_time if ended else None


def test_make_dev_with_a_token_slack_refuses_says_so_once_and_skips_alerts(tmp_path):
    home, log = tmp_path / "dagster_home", tmp_path / "make_dev.log"
    api_port, dagster_port = free_port(), free_port()
    (tmp_path / "tmp").mkdir()
    with running_slack(TOKEN) as slack:
        env = {
            "DAGSTER_HOME": str(home),
            "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "API_PORT": str(api_port),
            "DAGSTER_PORT": str(dagster_port),
            "JAFFLE_API_URL": f"http://127.0.0.1:{api_port}/api/v1",
            "TMPDIR": str(tmp_path / "tmp"),
            "SLACK_BOT_TOKEN": "xoxb-a-token-slack-does-not-know",
            "SLACK_API_URL": slack.base_url,
            "ALERT_SENSOR_INTERVAL_S": str(SENSOR_INTERVAL_S),
            "DO_NOT_TRACK": "1",
        }
        dev = start_make(["dev"], env, log)
        try:
            deadline = time.monotonic() + 300
            while not location_loaded(f"http://127.0.0.1:{dagster_port}"):
                assert dev.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(1)
            # Three ticks each once there are failures to send: the freshness checks of the
            # empty warehouse, run by their own sensor (before the fix, each such tick of the
            # check sensor failed with a traceback).
            deadline = time.monotonic() + 240
            while not (ended := _first_run_ended_at(str(home))) or not _ticked(
                str(home), 3, REFUSED, after=ended
            ):
                assert time.monotonic() < deadline, log.read_text()[-4000:]
                time.sleep(1)
            output = log.read_text()  # while it runs (stopping it prints tracebacks of its own)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(dev.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                dev.wait(timeout=60)
            kill_tree(dev.pid)

    assert output.count(f"make dev: {REFUSED}\n") == 1, output[-4000:]
    # Elsewhere the line is only the daemon's routine record of each skipped tick (Dagster logs
    # every sensor's skip reason at INFO), never a failure.
    others = [line for line in output.splitlines() if "Slack alerts cannot" in line][1:]
    assert others and all(
        re.search(
            f"SensorDaemon - .*INFO.* - Sensor slack_on_[a-z_]+ skipped: {re.escape(REFUSED)}$",
            line,
        )
        for line in others
    ), others
    assert "Traceback" not in output and "AlertNotSent" not in output, output[-4000:]
    for sensor in ALERT_SENSORS:
        failed = [t for t in sensor_ticks(str(home), sensor) if t.status.value == "FAILURE"]
        assert failed == [], sensor
    # Slack was asked whether it takes the token, and no alert was tried against it.
    assert {a.method for a in slack.attempts} == {"auth.test"}
    assert {a.error for a in slack.attempts} == {"invalid_auth"}
