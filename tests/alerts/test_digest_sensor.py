"""The morning digest's sensor, ticked by hand on real runs: one digest a day from
DIGEST_HOUR_UTC on, none on the first tick of a platform started after the hour, and the runs
failed since the last digest with their links."""

import datetime as dt

import dagster as dg
import pytest

from orchestration.alerts.settings import digest_hour_utc
from orchestration.definitions import defs as platform
from settings import SettingError
from tests.alerts.code_location import defs, run_job
from tests.slack_standin import WEBSERVER

slack_morning_digest = platform.get_sensor_def("slack_morning_digest")
TODAY = dt.datetime.now(dt.UTC).date()


def digest_tick(instance, cursor):
    from orchestration.alerts.slack import slack_resource

    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"slack": slack_resource()}
    ) as context:
        result = slack_morning_digest(context)
        return result, context.cursor


@pytest.fixture(autouse=True)
def from_midnight(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGEST_HOUR_UTC", "0")  # whenever the test runs, the hour has come
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))  # none loaded yet


def test_one_digest_a_day_naming_the_failed_runs_with_their_links(instance, slack):
    failed = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    assert not failed.success

    _, cursor = digest_tick(instance, (TODAY - dt.timedelta(days=1)).isoformat())
    result, cursor = digest_tick(instance, cursor)  # the same day again

    assert cursor == TODAY.isoformat()
    assert "once" in result.skip_message
    [message] = slack.messages
    assert message.text.startswith(f":sunrise: *Morning digest {TODAY - dt.timedelta(days=1)}*")
    assert "*Runs failed since " in message.text
    assert f"<{WEBSERVER}/runs/{failed.run_id}|{failed.run_id[:8]}> `ingest_orders`" in (
        message.text
    )
    assert "*Partitions:* 0 of 2 built; missing `marts/orders`, `raw/orders`" in message.text


def test_a_platform_started_after_the_hour_sends_its_first_digest_the_next_morning(instance, slack):
    result, cursor = digest_tick(instance, None)

    assert cursor == TODAY.isoformat() and slack.messages == []
    assert "next 00:00 UTC" in result.skip_message


def test_a_digest_hour_out_of_range_says_what_to_set(monkeypatch):
    monkeypatch.setenv("DIGEST_HOUR_UTC", "7am")
    with pytest.raises(SettingError, match="DIGEST_HOUR_UTC='7am' must be a whole hour from 0"):
        digest_hour_utc()
