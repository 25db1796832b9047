"""Quiet until something is wrong, through one real `make dev` (API stand-in, webserver, daemon)
with Slack set: a fresh start says at most one thing, and a backfill of old days neither fails
its own checks nor alerts.

Waits are on what the daemon records in the instance (the freshness checks' runs, the alert
sensors' ticks), never on fixed sleeps: "nothing more arrives" is taken after every alert
sensor has ticked a few times since the last thing that could have caused a message.
"""

import contextlib
import dataclasses
import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.checks.freshness import SENSOR_NAME
from tests.dagster_dev import free_port, location_loaded
from tests.processes import kill_tree, make_backfill, start_make
from tests.slack_standin import TOKEN, WEBSERVER, SlackStandIn, running_slack
from tests.test_alerts_daemon import sensor_ticks

SENSOR_INTERVAL_S = 2
ALERT_SENSORS = ("slack_on_check_failure", "slack_on_pending_run_alerts", "slack_on_run_failure")
DAILY_MARTS = ("marts/daily_revenue", "marts/order_items", "marts/orders")


@dataclasses.dataclass
class Dev:
    folder: Path
    env: dict[str, str]
    slack: SlackStandIn
    process: subprocess.Popen

    @property
    def home(self) -> str:
        return self.env["DAGSTER_HOME"]

    def wait_for(self, what: str, condition: Callable[[], object], timeout_s: float = 240):
        deadline = time.monotonic() + timeout_s
        while not (result := condition()):
            assert self.process.poll() is None, self.log()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.log()}")
            time.sleep(0.5)
        return result

    def log(self) -> str:
        return (self.folder / "make_dev.log").read_text()[-4000:]

    def freshness_runs(self) -> list[dg.RunRecord]:
        """The runs the freshness sensor launched, newest first."""
        with dg.DagsterInstance.from_config(self.home) as instance:
            return list(
                instance.get_run_records(
                    filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR_NAME})
                )
            )

    def quiet_after(self, since: float, ticks: int = 2) -> None:
        """Wait until every alert sensor has ticked `ticks` times after `since` (a timestamp)."""
        self.wait_for(
            f"{ticks} ticks of each alert sensor",
            lambda: all(
                len([t for t in sensor_ticks(self.home, s) if t.timestamp > since]) >= ticks
                for s in ALERT_SENSORS
            ),
        )


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    folder = tmp_path_factory.mktemp("quiet_alerts")
    (folder / "tmp").mkdir()
    api_port, dagster_port = free_port(), free_port()
    with running_slack(TOKEN) as slack:
        env = {
            "DAGSTER_HOME": str(folder / "dagster_home"),
            "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
            "API_PORT": str(api_port),
            "DAGSTER_PORT": str(dagster_port),
            "JAFFLE_API_URL": f"http://127.0.0.1:{api_port}/api/v1",
            "TMPDIR": str(folder / "tmp"),
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.base_url,
            "SLACK_CHANNEL": "#data-alerts",
            "DAGSTER_WEBSERVER_URL": WEBSERVER,
            "ALERT_SENSOR_INTERVAL_S": str(SENSOR_INTERVAL_S),
            "DO_NOT_TRACK": "1",
        }
        process = start_make(["dev"], env, folder / "make_dev.log")
        running = Dev(folder, env, slack, process)
        try:
            running.wait_for(
                "the code location", lambda: location_loaded(f"http://127.0.0.1:{dagster_port}")
            )
            yield running
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
            kill_tree(process.pid)


def test_a_fresh_start_with_nothing_built_says_one_thing(dev):
    # The freshness sensor judges every daily mart late at once (nothing was ever built) ...
    [run] = dev.wait_for(
        "the freshness checks' first run", lambda: [r for r in dev.freshness_runs() if r.end_time]
    )
    # ... and the alert sensors go on ticking after its results are in.
    dev.quiet_after(run.end_time)

    [message] = dev.slack.messages
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    due = yesterday if dt.datetime.now(dt.UTC).hour >= 6 else _days_ago(2)
    assert message.text.splitlines()[0] == ":wave: *Not built yet:* " + ", ".join(
        f"`{mart}`" for mart in DAILY_MARTS
    )
    assert f"`make backfill START={due} END={due}`" in message.text
    assert "Stale" not in message.text


def test_a_backfill_of_old_days_fails_no_check_of_its_own_and_alerts_nothing(dev):
    before = len(dev.slack.messages)
    start, end = _days_ago(366), _days_ago(365)

    code, output = make_backfill(start, end, dev.env, dev.folder / "backfill.log")

    assert code == 0, output[-3000:]
    with dg.DagsterInstance.from_config(dev.home) as instance:
        [run] = instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/asset_partition_range_start": start})
        )
        evaluations = [
            record.event_log_entry.dagster_event.asset_check_evaluation_data
            for record in instance.get_records_for_run(
                run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
        ]
    assert evaluations and [e for e in evaluations if not e.passed] == []
    assert "failed:" not in output  # the run's summary lists no failed check
    # The marts were materialized: the freshness sensor judges them again in a run of its own
    # (still late: yesterday is missing), and the alert sensors read that result.
    [again, *_] = dev.wait_for(
        "the freshness checks' run after the backfill",
        lambda: [
            r
            for r in dev.freshness_runs()
            if r.end_time and r.create_timestamp.timestamp() > run.end_time
        ],
    )
    dev.quiet_after(again.end_time)
    assert dev.slack.messages[before:] == []


def _days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).date().isoformat()
