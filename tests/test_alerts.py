"""Slack alerts, fast: real Dagster runs of a small code location on a temporary instance, the
platform's alert sensors (as `orchestration.definitions` registers them) called by hand, and the
messages that reached a local Slack stand-in. They prove the text, grouping, retries and secrecy;
tests/test_alerts_daemon.py proves the daemon runs them for real."""

import datetime as dt
import json
import logging
import socket
import time
import warnings
from collections.abc import Iterator

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from orchestration.alerts import grouping
from orchestration.alerts.check_cursor import Cursor
from orchestration.alerts.messages import (
    CheckFailure,
    FreshnessFailure,
    Repeat,
    RunFailure,
    check_failure_message,
    freshness_message,
    root_error,
    run_failure_message,
)
from orchestration.alerts.run_failure import load_groups, load_pending, save_groups
from orchestration.alerts.slack import AlertNotSent, SlackResource, slack_resource
from orchestration.definitions import defs as platform
from tests.conftest import PROJECT_ROOT
from tests.slack_standin import TOKEN, WEBSERVER

# The sensors as the platform registers them: dropping one from the definitions fails these.
slack_on_run_failure = platform.get_sensor_def("slack_on_run_failure")
slack_on_pending_run_alerts = platform.get_sensor_def("slack_on_pending_run_alerts")
slack_on_check_failure = platform.get_sensor_def("slack_on_check_failure")

UTC = dt.UTC

# ---------------------------------------------------------------------------------------------
# A small code location: a daily dlt-like asset that fails deep inside, a dbt-like downstream,
# an asset with a failing ERROR check and a failing WARN check, and freshness checks.

daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(key=["raw", "orders"], partitions_def=daily)
def raw_orders() -> None:
    # Wrapped the way dlt wraps a failure: the top-level message says where, the root says why.
    try:
        try:
            raise KeyError("order_id")
        except KeyError as error:
            raise ValueError("could not normalise page 3 of /orders") from error
    except ValueError as error:
        raise RuntimeError("Pipeline execution failed at stage normalize") from error


@dg.asset(key=["marts", "orders"], partitions_def=daily, deps=[raw_orders])
def marts_orders() -> None:
    pass


@dg.asset(key=["raw", "customers"])
def raw_customers() -> None:
    pass


@dg.asset_check(asset=raw_customers, description="Every customer has an id.")
def customers_have_ids() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, description="3 customers without an id", metadata={"null_ids": 3}
    )


@dg.asset_check(asset=raw_customers)
def customers_have_emails() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


with warnings.catch_warnings():
    # Superseded by FreshnessPolicy in 1.13, but still the way to judge each partition.
    warnings.simplefilter("ignore")
    freshness_checks = dg.build_time_partition_freshness_checks(
        assets=[raw_orders], deadline_cron="0 9 * * *"
    )

defs = dg.Definitions(
    assets=[raw_orders, marts_orders, raw_customers],
    asset_checks=[customers_have_ids, customers_have_emails, *freshness_checks],
    jobs=[
        dg.define_asset_job("ingest_orders", selection=[raw_orders, marts_orders]),
        dg.define_asset_job("customers", selection=dg.AssetSelection.assets(raw_customers)),
        dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*freshness_checks)),
    ],
)


def run_job(instance: dg.DagsterInstance, name: str, **kwargs) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(name).execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )


# ---------------------------------------------------------------------------------------------
# Fixtures: the real parts


# The run retries of the instance config the project ships (retry a run whose process died,
# not one whose step failed: the steps' retry policies own those).
RUN_RETRIES = {
    "run_retries": yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["run_retries"]
}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A fresh in-memory instance with the shipped run retries."""
    with dg.DagsterInstance.ephemeral(settings=RUN_RETRIES) as instance:
        yield instance


@pytest.fixture
def retrying_instance() -> Iterator[dg.DagsterInstance]:
    """Run retries on step failures too, for runs tagged `dagster/max_retries`, so that an
    in-process run can be one Dagster will retry (with the shipped config only a run whose
    process died is, which needs a real process: tests/test_recovery.py)."""
    settings = {
        "run_retries": {
            **RUN_RETRIES["run_retries"],
            "retry_on_asset_or_op_failure": True,
            "max_retries": 0,  # only runs tagged dagster/max_retries retry
        }
    }
    with dg.DagsterInstance.ephemeral(settings=settings) as instance:
        yield instance


@pytest.fixture(params=["in-memory", "sqlite"])
def any_instance(request) -> Iterator[dg.DagsterInstance]:
    """Both storages: in memory, and the run-sharded SQLite that `dagster dev` uses (where
    cross-run event queries work differently)."""
    if request.param == "in-memory":
        with dg.DagsterInstance.ephemeral(settings=RUN_RETRIES) as instance:
            yield instance
    else:
        with dg.instance_for_test(overrides=RUN_RETRIES) as instance:
            assert instance.event_log_storage.is_run_sharded
            yield instance


def evaluate_run_failure(
    instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, resource=None
):
    context = dg.build_run_status_sensor_context(
        sensor_name="slack_on_run_failure",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources={"slack": resource or slack_resource()},
    )
    return slack_on_run_failure(context)


def tick(instance: dg.DagsterInstance, cursor: str | None, resource=None):
    """One evaluation of the check sensor; returns (result, new cursor)."""
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"slack": resource or slack_resource()},
    ) as context:
        result = slack_on_check_failure(context)
        return result, context.cursor


def started(instance: dg.DagsterInstance) -> str:
    """The check sensor's first tick: it starts watching from now."""
    result, cursor = tick(instance, None)
    assert "from now on" in result.skip_message
    return cursor


def aged(cursor: str, hours: int) -> str:
    """The same cursor as if its grouped alerts had been posted `hours` earlier."""
    state = Cursor.loads(cursor)
    state.groups = {
        key: grouping.Thread(
            t.channel, t.ts, t.count, t.first_at - dt.timedelta(hours=hours), t.last_at
        )
        for key, t in state.groups.items()
    }
    return state.dumps()


# ---------------------------------------------------------------------------------------------
# Run failures


def test_run_alert_text_names_job_assets_partition_step_root_error_and_link(any_instance, slack):
    instance = any_instance
    result = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    assert not result.success

    assert evaluate_run_failure(instance, result) is None

    assert len(slack.messages) == 1
    message = slack.posts[0]
    assert message.channel == "#data-alerts"
    assert message.text == (
        ":red_circle: *Run failed:* `ingest_orders`\n"
        "*Assets:* `marts/orders`, `raw/orders`\n"
        "*Partition:* `2024-01-03`\n"
        "*Failed step:* `raw__orders`\n"
        "*Error:*\n"
        "```KeyError: 'order_id'```\n"
        f"<{WEBSERVER}/runs/{result.run_id}|Open run {result.run_id[:8]}>"
    )
    [thread] = load_groups(instance).values()
    assert (thread.channel, thread.ts, thread.count) == ("C123", message.ts, 1)


def test_run_alert_text_of_a_range_run_names_the_range(instance, slack):
    range_tags = {
        "dagster/asset_partition_range_start": "2024-01-01",
        "dagster/asset_partition_range_end": "2024-01-07",
    }
    result = run_job(instance, "ingest_orders", tags=range_tags)

    evaluate_run_failure(instance, result)

    [message] = slack.posts
    assert "*Partitions:* `2024-01-01` to `2024-01-07`\n" in message.text
    assert "*Partition:*" not in message.text


def test_run_alert_skips_a_run_dagster_will_retry_and_sends_for_the_last_attempt(
    retrying_instance, slack
):
    instance = retrying_instance
    retried = run_job(
        instance, "ingest_orders", partition_key="2024-01-03", tags={"dagster/max_retries": "2"}
    )
    # Dagster itself decided, from the instance's run_retries and the run's max_retries.
    assert instance.get_run_by_id(retried.run_id).tags["dagster/will_retry"] == "true"

    evaluate_run_failure(instance, retried)
    assert slack.attempts == []

    last_attempt = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    assert instance.get_run_by_id(last_attempt.run_id).tags["dagster/will_retry"] == "false"
    evaluate_run_failure(instance, last_attempt)
    assert len(slack.posts) == 1


def test_run_alert_grouping_updates_the_message_with_a_count(instance, slack):
    first = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    evaluate_run_failure(instance, first)
    second = run_job(instance, "ingest_orders", partition_key="2024-01-04")
    evaluate_run_failure(instance, second)

    assert len(slack.posts) == 1
    [update] = slack.updates
    assert update.ts == slack.posts[0].ts
    first_at = load_groups(instance)
    [thread] = first_at.values()
    assert thread.count == 2
    since = thread.first_at.strftime("%H:%M UTC")
    assert update.text.startswith(
        f":red_circle: *Run failed:* `ingest_orders` (failed 2 times since {since})\n"
    )
    # The update shows the latest failure and links to its run.
    assert "*Partition:* `2024-01-04`" in update.text
    assert f"/runs/{second.run_id}|" in update.text


def test_run_alert_grouping_posts_anew_after_the_window(instance, slack):
    evaluate_run_failure(instance, run_job(instance, "ingest_orders", partition_key="2024-01-03"))
    # Two hours pass (the default window is 60 minutes).
    save_groups(
        instance,
        {
            key: grouping.Thread(
                t.channel,
                t.ts,
                t.count,
                t.first_at - dt.timedelta(hours=2),
                t.last_at - dt.timedelta(hours=2),
            )
            for key, t in load_groups(instance).items()
        },
    )
    evaluate_run_failure(instance, run_job(instance, "ingest_orders", partition_key="2024-01-03"))

    assert len(slack.posts) == 2
    assert slack.updates == []
    assert "failed 2 times" not in slack.posts[1].text


def test_through_dagsters_own_sensor_machinery_each_failed_run_alerts_once(
    retrying_instance, slack
):
    """The daemon's path: Dagster's run-status cursor picks the failed runs of the location."""
    instance = retrying_instance

    def evaluate(cursor: str | None):
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"slack": slack_resource()}
        ) as context:
            return slack_on_run_failure.evaluate_tick(context)

    cursor = evaluate(None).cursor  # Dagster starts watching from now
    run_job(instance, "ingest_orders", partition_key="2024-01-03")
    run_job(
        instance, "ingest_orders", partition_key="2024-01-04", tags={"dagster/max_retries": "1"}
    )
    run_job(instance, "customers")  # succeeds
    run_job(instance, "ingest_orders", partition_key="2024-01-05")

    data = evaluate(cursor)
    again = evaluate(data.cursor)

    assert len(data.dagster_run_reactions) == 3  # the three failed runs, each handled once
    assert all(reaction.error is None for reaction in data.dagster_run_reactions)
    assert [m.method for m in slack.messages] == ["chat.postMessage", "chat.update"]
    assert "*Partition:* `2024-01-05`" in slack.updates[0].text  # the retried run is skipped
    assert again.dagster_run_reactions == []
    assert len(slack.attempts) == 2


def pending_tick(instance: dg.DagsterInstance, resource=None):
    """One evaluation of the sensor that sends the run alerts Slack refused earlier."""
    with dg.build_sensor_context(
        instance=instance, resources={"slack": resource or slack_resource()}
    ) as context:
        return slack_on_pending_run_alerts(context)


def test_a_run_alert_slack_refuses_waits_and_is_sent_once_when_slack_is_back(instance, slack):
    slack.fail_next(10, status=500)
    result = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    resource = SlackResource(
        token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=slack.base_url, max_retries=1
    )

    # Dagster's cursor moves past the run whatever the sensor does: it must not raise and lose it.
    assert evaluate_run_failure(instance, result, resource) is None
    assert [a.status for a in slack.attempts] == [500, 500]  # one try, one bounded retry
    assert slack.messages == []
    assert load_pending(instance) == [result.run_id]
    assert load_groups(instance) == {}

    with pytest.raises(AlertNotSent, match=r"1 run-failure alert.* still not sent.*HTTP 500") as e:
        pending_tick(instance, resource)  # Slack still down: the tick fails, the alert waits
    assert TOKEN not in str(e.value)
    assert load_pending(instance) == [result.run_id]

    slack.recover()
    assert pending_tick(instance).skip_message == "Slack: 1 delayed run-failure alert(s) sent."
    assert pending_tick(instance).skip_message == "No run-failure alert waiting."
    [message] = slack.messages
    assert f"/runs/{result.run_id}|" in message.text
    assert load_pending(instance) == []
    [thread] = load_groups(instance).values()
    assert thread.ts == message.ts


def test_waiting_run_alerts_go_first_and_one_sent_is_never_sent_again(instance, slack):
    no_retries = SlackResource(
        token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=slack.base_url, max_retries=0
    )
    first = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    second = run_job(instance, "customers", tags={"dagster/max_retries": "0"})
    third = run_job(instance, "ingest_orders", partition_key="2024-01-05")
    slack.answer_next(500)
    evaluate_run_failure(instance, first, no_retries)
    slack.answer_next(500)
    evaluate_run_failure(instance, third, no_retries)
    assert load_pending(instance) == [first.run_id, third.run_id]

    # The first waiting alert gets through, the next does not: only the second still waits.
    slack.answer_next(200, 500)
    with pytest.raises(AlertNotSent):
        pending_tick(instance, no_retries)
    assert load_pending(instance) == [third.run_id]
    pending_tick(instance, no_retries)

    runs = [m.text.split("/runs/")[1][:36] for m in slack.messages]
    assert runs == [first.run_id, third.run_id]
    assert second.success
    assert [m.method for m in slack.messages] == ["chat.postMessage", "chat.update"]


# ---------------------------------------------------------------------------------------------
# Check and freshness failures


def test_check_alert_text_of_an_error_check_and_warn_checks_stay_silent(any_instance, slack):
    instance = any_instance
    cursor = started(instance)
    run_job(instance, "customers")

    result, cursor = tick(instance, cursor)

    assert result.skip_message == "Slack: 1 posted, 0 updated."
    [message] = slack.messages  # the failing WARN check does not alert
    assert message.text == (
        ":red_circle: *Check failed:* `customers_have_ids` on `raw/customers` (ERROR)\n"
        "*Check:* Every customer has an id.\n"
        "*Result:* 3 customers without an id\n"
        "*Metadata:* null_ids = 3\n"
        f"<{WEBSERVER}/assets/raw/customers|Open raw/customers in Dagster>"
    )
    # Nothing new: nothing sent.
    tick(instance, cursor)
    assert len(slack.messages) == 1


def test_check_alert_text_of_a_failing_freshness_check(instance, slack):
    cursor = started(instance)
    result = run_job(instance, "freshness")
    assert result.success  # a failed freshness check does not fail its run

    tick(instance, cursor)

    [message] = slack.messages
    assert message.text.startswith(
        ":hourglass: *Stale:* `raw/orders`: freshness check `freshness_check` failed (WARN)\n"
        "*Check:* Evaluates freshness for targeted asset.\n"
        "*Result:* The asset has never been observed/materialized."
    )
    assert message.text.endswith(f"<{WEBSERVER}/assets/raw/orders|Open raw/orders in Dagster>")


def test_check_alert_text_of_a_freshness_policy_failure(any_instance, slack):
    instance = any_instance
    cursor = started(instance)
    # What Dagster's freshness daemon records when a FreshnessPolicy's state changes.
    for previous, new in [("PASS", "WARN"), ("WARN", "FAIL")]:
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=dg.AssetKey(["marts", "orders"]),
                previous_state=FreshnessState(previous),
                new_state=FreshnessState(new),
                state_change_timestamp=time.time(),
            )
        )

    tick(instance, cursor)

    [message] = slack.messages
    assert message.text == (
        ":hourglass: *Stale:* `marts/orders` is failing its freshness policy (was WARN)\n"
        f"<{WEBSERVER}/assets/marts/orders|Open marts/orders in Dagster>"
    )


def test_check_alert_grouping_updates_then_posts_anew_after_the_window(instance, slack):
    cursor = started(instance)
    run_job(instance, "customers")
    _, cursor = tick(instance, cursor)
    run_job(instance, "customers")
    _, cursor = tick(instance, cursor)

    assert len(slack.posts) == 1
    [update] = slack.updates
    assert update.ts == slack.posts[0].ts
    assert "(ERROR) (failed 2 times since " in update.text
    [thread] = Cursor.loads(cursor).groups.values()
    assert thread.count == 2

    run_job(instance, "customers")
    tick(instance, aged(cursor, hours=2))

    assert len(slack.posts) == 2
    # A fresh message: no count in its headline.
    assert slack.posts[1].text.splitlines()[0] == (
        ":red_circle: *Check failed:* `customers_have_ids` on `raw/customers` (ERROR)"
    )


def test_check_alert_ratelimited_twice_then_ok_is_sent_once(instance, slack):
    cursor = started(instance)
    run_job(instance, "customers")
    slack.fail_next(2, status=429)

    result, cursor = tick(instance, cursor)

    assert [a.status for a in slack.attempts] == [429, 429, 200]
    assert len(slack.messages) == 1
    assert result.skip_message == "Slack: 1 posted, 0 updated."
    [(key, thread)] = Cursor.loads(cursor).groups.items()
    assert key == "check:raw/customers:customers_have_ids"
    assert thread.ts == slack.messages[0].ts


def test_check_alert_when_slack_is_down_fails_the_tick_and_is_sent_next_tick(instance, slack):
    cursor = started(instance)
    run_job(instance, "customers")
    slack.fail_next(4, status=503)

    with pytest.raises(AlertNotSent, match=r"not sent, retrying next tick.*HTTP 503") as error:
        tick(instance, cursor)
    assert TOKEN not in str(error.value)
    assert len(slack.attempts) == 4  # the shipped resource: one try and three retries
    assert slack.messages == []

    # Slack is back; Dagster re-evaluates with the cursor it kept.
    result, _ = tick(instance, cursor)
    assert result.skip_message == "Slack: 1 posted, 0 updated."
    assert len(slack.messages) == 1


def test_check_alerts_when_one_of_a_tick_fails_it_alone_is_sent_next_tick(instance, slack):
    cursor = started(instance)
    run_job(instance, "customers")
    run_job(instance, "freshness")
    slack.answer_next(200, 500)  # the check alert gets through, the freshness alert does not
    no_retries = SlackResource(
        token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=slack.base_url, max_retries=0
    )

    result, cursor = tick(instance, cursor, no_retries)
    assert result.skip_message == "Slack: 1 posted, 0 updated, 1 not sent (retrying next tick)."

    result, cursor = tick(instance, cursor, no_retries)
    assert result.skip_message == "Slack: 1 posted, 0 updated."
    assert [m.text.split("*")[1] for m in slack.posts] == ["Check failed:", "Stale:"]
    assert sorted(Cursor.loads(cursor).groups) == [
        "check:raw/customers:customers_have_ids",
        "freshness:raw/orders",
    ]


def test_freshness_alerts_when_one_of_a_tick_fails_it_alone_is_sent_next_tick(any_instance, slack):
    instance = any_instance
    cursor = started(instance)
    orders, items = ["marts", "orders"], ["raw", "customers"]
    for asset, previous, new in [
        (orders, "WARN", "FAIL"),
        (items, "WARN", "FAIL"),
        (orders, "FAIL", "PASS"),
        (orders, "PASS", "FAIL"),  # orders' group: its first and this change
    ]:
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=dg.AssetKey(asset),
                previous_state=FreshnessState(previous),
                new_state=FreshnessState(new),
                state_change_timestamp=time.time(),
            )
        )
    slack.answer_next(200, 500)  # orders' alert is accepted, raw/customers' refused
    no_retries = SlackResource(
        token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=slack.base_url, max_retries=0
    )

    result, cursor = tick(instance, cursor, no_retries)
    assert result.skip_message == "Slack: 1 posted, 0 updated, 1 not sent (retrying next tick)."
    result, cursor = tick(instance, cursor, no_retries)
    assert result.skip_message == "Slack: 1 posted, 0 updated."
    tick(instance, cursor, no_retries)

    # raw/customers once, orders once (its later change is not read and sent again).
    assert [m.text.split("`")[1] for m in slack.messages] == ["marts/orders", "raw/customers"]
    assert slack.updates == []


# ---------------------------------------------------------------------------------------------
# Alerts off, and the token kept secret


def test_without_a_token_alerts_are_off_and_nothing_is_sent(instance, slack, monkeypatch, capfd):
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    resource = slack_resource()
    assert not resource.enabled

    result = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    run_skip = evaluate_run_failure(instance, result, resource)
    run_job(instance, "customers")
    check_skip, cursor = tick(instance, None, resource)

    for skip in (run_skip, check_skip):
        assert skip.skip_message == "Slack alerts are off: SLACK_BOT_TOKEN is not set."
    assert cursor is None
    assert slack.attempts == []
    # Each evaluation says so in the sensor's log (which Dagster shows on the tick).
    assert capfd.readouterr().err.count("Slack alerts are off: SLACK_BOT_TOKEN is not set.") == 2


def test_the_token_never_appears_in_messages_logs_or_run_records(instance, slack, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # slack_sdk logs its requests at DEBUG
    cursor = started(instance)
    result = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    evaluate_run_failure(instance, result)
    run_job(instance, "customers")
    slack.fail_next(1, status=429)
    _, cursor = tick(instance, cursor)
    evaluate_run_failure(instance, run_job(instance, "ingest_orders", partition_key="2024-01-05"))

    # A message that quotes the token (say, an error echoing a request) goes out redacted.
    with dg.build_resources({"slack": slack_resource()}) as resources:
        resources.slack.post(f"request failed with Authorization: Bearer {TOKEN}")

    assert [m.method for m in slack.messages] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",
    ]
    assert slack.messages[-1].text.endswith("Bearer [redacted]")
    captured = capfd.readouterr()
    run_records = [
        json.dumps(
            [str(r.event_log_entry) for r in instance.get_records_for_run(run.run_id).records]
        )
        + json.dumps(dict(run.tags))
        for run in instance.get_runs()
    ]
    places = {
        "message text": "\n".join(m.text for m in slack.messages),
        "logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
        "check sensor cursor": cursor,
        "run-failure grouping state": grouping.dumps(load_groups(instance)),
        "runs and their event logs": "\n".join(run_records),
    }
    assert caplog.text  # the logs were captured, so their check means something
    for place, text in places.items():
        assert TOKEN not in text, f"the token leaked into {place}"


def test_a_wrong_token_or_an_unreachable_slack_is_a_clear_error(slack):
    wrong = SlackResource(token="xoxb-wrong", base_url=slack.base_url)
    with pytest.raises(AlertNotSent, match=r"HTTP 200, invalid_auth") as refused:
        wrong.post("hello")
    assert refused.value.code == "invalid_auth"

    closed = f"http://127.0.0.1:{_free_port()}/api/"
    unreachable = SlackResource(token=TOKEN, base_url=closed, max_retries=0)
    with pytest.raises(AlertNotSent, match=r"Slack unreachable at .* \(ConnectionRefusedError\)"):
        unreachable.post("hello")
    assert slack.messages == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Pure parts: grouping decisions and message text

T0 = dt.datetime(2024, 1, 3, 14, 2, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


def test_decide_posts_when_nothing_was_alerted():
    assert grouping.decide({}, "check:a:b", T0, HOUR) == grouping.Post("check:a:b")


def test_decide_updates_within_the_window_and_counts():
    state = grouping.posted({}, "k", "C123", "1.1", T0, T0)
    later = T0 + dt.timedelta(minutes=59)

    decision = grouping.decide(state, "k", later, HOUR, failures=2)

    assert decision == grouping.Update("k", grouping.Thread("C123", "1.1", 3, T0, later))
    assert grouping.updated(state, decision)["k"].count == 3


def test_decide_posts_again_once_the_window_from_the_first_alert_has_passed():
    state = grouping.posted({}, "k", "C123", "1.1", T0, T0)
    assert grouping.decide(state, "k", T0 + HOUR, HOUR) == grouping.Post("k")
    assert grouping.decide(state, "other", T0, HOUR) == grouping.Post("other")
    assert grouping.prune(state, T0 + HOUR, HOUR) == {}


def test_grouping_state_round_trips_and_survives_garbage():
    state = grouping.posted({}, "k", "C123", "1.1", T0, T0 + HOUR, failures=4)
    assert grouping.loads(grouping.dumps(state)) == state
    assert grouping.loads("not json") == {}
    assert grouping.loads('{"k": {"ts": 1}}') == {}


def test_run_failure_message_lists_ten_assets_then_counts_the_rest():
    failure = RunFailure(
        run_id="0123456789abcdef",
        job_name="daily",
        assets=tuple(f"marts/m{i:02d}" for i in range(13)),
        failed_steps=("dbt_daily", "dbt_marts"),
        error="Catalog Error: Table <orders> does not exist",
    )
    repeat = Repeat(3, T0, T0 + dt.timedelta(minutes=40))

    text = run_failure_message(failure, WEBSERVER, repeat)

    shown = ", ".join(f"`marts/m{i:02d}`" for i in range(10))
    assert text == (
        ":red_circle: *Run failed:* `daily` (failed 3 times since 14:02 UTC)\n"
        f"*Assets:* {shown} +3 more\n"
        "*Failed steps:* `dbt_daily`, `dbt_marts`\n"
        "*Error:*\n"
        "```Catalog Error: Table &lt;orders&gt; does not exist```\n"
        f"<{WEBSERVER}/runs/0123456789abcdef|Open run 01234567>"
    )


def test_run_failure_message_of_an_ad_hoc_materialization_with_a_range():
    failure = RunFailure(
        run_id="r1", job_name="__ASSET_JOB", partition_range=("2024-01-01", "2024-01-31")
    )
    repeat = Repeat(2, T0, T0 + dt.timedelta(days=1))
    assert run_failure_message(failure, WEBSERVER, repeat) == (
        ":red_circle: *Run failed:* `asset materialization` "
        "(failed 2 times since Jan 03 14:02 UTC)\n"
        "*Partitions:* `2024-01-01` to `2024-01-31`\n"
        f"<{WEBSERVER}/runs/r1|Open run r1>"
    )


def test_check_failure_message_for_an_error_check_and_a_freshness_check():
    error_check = CheckFailure(
        asset="marts/orders",
        check_name="order_total_positive",
        severity="ERROR",
        partition="2024-01-03",
        result="12 rows with order_total <= 0",
        metadata=(("failing_rows", "12"),),
    )
    assert check_failure_message(error_check, WEBSERVER) == (
        ":red_circle: *Check failed:* `order_total_positive` on `marts/orders` (ERROR)\n"
        "*Partition:* `2024-01-03`\n"
        "*Result:* 12 rows with order_total &lt;= 0\n"
        "*Metadata:* failing_rows = 12\n"
        f"<{WEBSERVER}/assets/marts/orders|Open marts/orders in Dagster>"
    )
    stale = CheckFailure(
        asset="raw/orders", check_name="freshness_check", severity="WARN", freshness=True
    )
    assert check_failure_message(stale, WEBSERVER, Repeat(4, T0, T0)) == (
        ":hourglass: *Stale:* `raw/orders`: freshness check `freshness_check` failed (WARN)"
        " (failed 4 times since 14:02 UTC)\n"
        f"<{WEBSERVER}/assets/raw/orders|Open raw/orders in Dagster>"
    )


def test_freshness_message():
    assert freshness_message(FreshnessFailure("raw/orders", "PASS"), WEBSERVER) == (
        ":hourglass: *Stale:* `raw/orders` is failing its freshness policy (was PASS)\n"
        f"<{WEBSERVER}/assets/raw/orders|Open raw/orders in Dagster>"
    )


def test_root_error_is_the_innermost_cause_in_at_most_five_lines(instance):
    result = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert root_error(failure.step_failure_data.error) == "KeyError: 'order_id'"

    long_error = failure.step_failure_data.error._replace(
        cause=None, message="\n".join(f"line {i}" for i in range(1, 9))
    )
    assert root_error(long_error) == "line 1\nline 2\nline 3\nline 4\n… (4 more lines)"
