"""A Slack that refuses the token or the channel: one clear line when `make dev` / `make serve`
start, the alert sensors' ticks skipped with that line instead of failing every interval, no
request per run while it lasts, and the alerts waiting until it is fixed."""

import socket
import uuid

import pytest

from orchestration.alerts import startup_check
from orchestration.alerts.run_failure import load_pending
from tests.alerts.code_location import evaluate_run_failure, pending_tick, run_job, started, tick

BAD_TOKEN_LINE = (
    "Slack alerts cannot be sent (invalid_auth): Slack does not know SLACK_BOT_TOKEN; set "
    "SLACK_BOT_TOKEN to the bot token (xoxb-...) of a Slack app in your workspace, then restart."
)


@pytest.fixture
def wrong_token(slack, monkeypatch) -> str:
    # A token of its own per test: Slack's verdict is remembered per process and token.
    token = f"xoxb-wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    return token


def test_a_refused_token_is_one_line_at_start(slack, wrong_token, capfd):
    assert startup_check("make dev") == BAD_TOKEN_LINE

    assert capfd.readouterr().err == f"make dev: {BAD_TOKEN_LINE}\n"
    assert [(a.method, a.error) for a in slack.attempts] == [("auth.test", "invalid_auth")]


def test_an_accepted_token_or_no_token_prints_nothing_at_start(slack, monkeypatch, capfd):
    assert startup_check("make dev") is None
    assert [(a.method, a.error) for a in slack.attempts] == [("auth.test", None)]

    monkeypatch.delenv("SLACK_BOT_TOKEN")
    assert startup_check("make serve") is None
    assert len(slack.attempts) == 1  # alerts are off: Slack is not asked
    assert capfd.readouterr() == ("", "")


def test_an_unreachable_slack_is_one_line_at_start(slack, monkeypatch, capfd):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    monkeypatch.setenv("SLACK_API_URL", closed)

    line = startup_check("make dev")

    assert line.startswith(f"Slack alerts may be late: Slack unreachable at {closed} ")
    assert line.endswith("The sensors try again.")
    assert capfd.readouterr().err == f"make dev: {line}\n"


def test_a_refused_token_skips_every_alert_sensor_with_that_line(instance, slack, wrong_token):
    cursor = started(instance)
    failed = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    run_job(instance, "customers")  # a failing ERROR check

    for _ in range(3):  # ticks that used to raise, with a traceback, every interval
        assert evaluate_run_failure(instance, failed) is None
        check_skip, cursor = tick(instance, cursor)
        assert check_skip.skip_message == BAD_TOKEN_LINE
        assert pending_tick(instance).skip_message == BAD_TOKEN_LINE

    # Slack was asked once; no alert was attempted, so none was lost: they wait for a fix.
    assert [a.method for a in slack.attempts] == ["auth.test"]
    assert load_pending(instance) == [failed.run_id]


def test_a_token_revoked_while_running_stops_alerts_without_retrying(instance, slack):
    cursor = started(instance)
    first = run_job(instance, "ingest_orders", partition_key="2024-01-03")
    evaluate_run_failure(instance, first)
    assert len(slack.posts) == 1

    slack.revoke_token()
    second = run_job(instance, "ingest_orders", partition_key="2024-01-04")
    evaluate_run_failure(instance, second)  # the update is refused: token_revoked
    run_job(instance, "customers")
    check_skip, cursor = tick(instance, cursor)
    pending_skip = pending_tick(instance)

    revoked = (
        "Slack alerts cannot be sent (token_revoked): SLACK_BOT_TOKEN was revoked; set "
        "SLACK_BOT_TOKEN to the bot token (xoxb-...) of a Slack app in your workspace, then "
        "restart."
    )
    assert check_skip.skip_message == pending_skip.skip_message == revoked
    # One refused request, not retried: neither by the client nor by the later ticks.
    assert [(a.method, a.error) for a in slack.attempts[-1:]] == [("chat.update", "token_revoked")]
    assert [a.error for a in slack.attempts].count("token_revoked") == 1
    assert load_pending(instance) == [second.run_id]
