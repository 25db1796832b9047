"""Check and freshness alerts through real runs and the platform's check sensor, called by
hand: which checks alert, their text, grouping, and ticks Slack refused."""

import time

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from orchestration.alerts.check_cursor import Cursor
from orchestration.alerts.slack import AlertNotSent
from tests.alerts.code_location import (
    aged,
    run_job,
    scheduled_ingest,
    slack_without_retries,
    started,
    tick,
)
from tests.slack_standin import TOKEN, WEBSERVER


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
    scheduled_ingest(instance)  # raw/orders is in service: the schedule tried to build it
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

    assert [a.status for a in slack.chat_attempts] == [429, 429, 200]
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
    assert len(slack.chat_attempts) == 4  # the shipped resource: one try and three retries
    assert slack.messages == []

    # Slack is back; Dagster re-evaluates with the cursor it kept.
    result, _ = tick(instance, cursor)
    assert result.skip_message == "Slack: 1 posted, 0 updated."
    assert len(slack.messages) == 1


def test_check_alerts_when_one_of_a_tick_fails_it_alone_is_sent_next_tick(instance, slack):
    cursor = started(instance)
    run_job(instance, "customers")
    scheduled_ingest(instance)
    run_job(instance, "freshness")
    slack.answer_next(200, 500)  # the check alert gets through, the freshness alert does not
    no_retries = slack_without_retries(slack.base_url)

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
    no_retries = slack_without_retries(slack.base_url)

    result, cursor = tick(instance, cursor, no_retries)
    assert result.skip_message == "Slack: 1 posted, 0 updated, 1 not sent (retrying next tick)."
    result, cursor = tick(instance, cursor, no_retries)
    assert result.skip_message == "Slack: 1 posted, 0 updated."
    tick(instance, cursor, no_retries)

    # raw/customers once, orders once (its later change is not read and sent again).
    assert [m.text.split("`")[1] for m in slack.messages] == ["marts/orders", "raw/customers"]
    assert slack.updates == []
