"""Run-failure alerts through real in-process runs and the platform's sensor, called by hand:
the text, grouping into one thread, runs Dagster will retry, and alerts Slack refused."""

import datetime as dt

import dagster as dg
import pytest

from orchestration.alerts import grouping
from orchestration.alerts.run_failure import load_groups, load_pending, save_groups
from orchestration.alerts.slack import AlertNotSent, SlackResource, slack_resource
from tests.alerts.code_location import (
    evaluate_run_failure,
    pending_tick,
    run_job,
    slack_on_run_failure,
    slack_without_retries,
)
from tests.slack_standin import TOKEN, WEBSERVER


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
    assert len(slack.chat_attempts) == 2


def test_a_run_alert_slack_refuses_waits_and_is_sent_once_when_slack_is_back(instance, slack):
    slack.fail_next(10, status=500)
    result = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    resource = SlackResource(
        token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=slack.base_url, max_retries=1
    )

    # Dagster's cursor moves past the run whatever the sensor does: it must not raise and lose it.
    assert evaluate_run_failure(instance, result, resource) is None
    assert [a.status for a in slack.chat_attempts] == [500, 500]  # one try, one bounded retry
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
    no_retries = slack_without_retries(slack.base_url)
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
