"""The pure parts of alerting: grouping decisions and the message text, without Slack."""

import datetime as dt

from orchestration.alerts import grouping
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
from tests.alerts.code_location import (
    UTC,
    run_job,
)
from tests.slack_standin import WEBSERVER

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
