"""Alerts off without a token, the token never in a message, log or run record, and a wrong
token or unreachable Slack named clearly."""

import json
import logging
import socket

import dagster as dg
import pytest

from orchestration.alerts import grouping
from orchestration.alerts.run_failure import load_groups
from orchestration.alerts.slack import AlertNotSent, SlackResource, slack_resource
from tests.alerts.code_location import (
    evaluate_run_failure,
    run_job,
    started,
    tick,
)
from tests.slack_standin import TOKEN


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
    with pytest.raises(AlertNotSent) as refused:
        wrong.post("hello")
    assert str(refused.value) == (
        "Slack alerts cannot be sent (invalid_auth): Slack does not know SLACK_BOT_TOKEN; set "
        "SLACK_BOT_TOKEN to the bot token (xoxb-...) of a Slack app in your workspace, then "
        "restart."
    )
    assert refused.value.code == "invalid_auth"
    assert not refused.value.transient

    closed = f"http://127.0.0.1:{_free_port()}/api/"
    unreachable = SlackResource(token=TOKEN, base_url=closed, max_retries=0)
    with pytest.raises(AlertNotSent, match=r"Slack unreachable at .* \(ConnectionRefusedError\)"):
        unreachable.post("hello")
    assert slack.messages == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
