"""Grouping has a ceiling: the failed runs of one backfill are one message for the day, updated
with the count and the failed partitions, not one message per partition."""

import dataclasses
import datetime as dt

from orchestration.alerts.run_failure import load_groups, save_groups
from tests.alerts.code_location import evaluate_run_failure, run_job
from tests.slack_standin import WEBSERVER

BACKFILL = "qwertyui"
DAYS = [(dt.date(2024, 2, 1) + dt.timedelta(days=n)).isoformat() for n in range(30)]


def test_thirty_failed_partitions_of_a_backfill_send_one_message(instance, slack):
    # One run per partition, tagged as Dagster's backfill daemon tags the runs it launches; each
    # fails on its own partition.
    for day in DAYS:
        result = run_job(
            instance, "ingest_orders", partition_key=day, tags={"dagster/backfill": BACKFILL}
        )
        assert not result.success
        evaluate_run_failure(instance, result)

    [post] = slack.posts
    assert len(slack.updates) == 29 and {u.ts for u in slack.updates} == {post.ts}
    latest = slack.updates[-1].text
    assert latest.startswith(":red_circle: *Run failed:* `ingest_orders` (failed 30 times since")
    assert (
        f"*Backfill:* <{WEBSERVER}/runs/b/{BACKFILL}|{BACKFILL}>: 30 failed partitions: "
        + ", ".join(f"`{day}`" for day in DAYS[:10])
        + " +20 more"
    ) in latest


def test_another_backfills_failures_are_a_message_of_their_own(instance, slack):
    for backfill in ("backfill1", "backfill2"):
        result = run_job(
            instance, "ingest_orders", partition_key=DAYS[0], tags={"dagster/backfill": backfill}
        )
        evaluate_run_failure(instance, result)

    assert [p.text.count("*Backfill:*") for p in slack.posts] == [1, 1]
    assert slack.updates == []


def test_a_backfill_failing_for_hours_stays_one_message_for_the_day(instance, slack):
    def fail(day: str, hours_later: int) -> None:
        # The group's first alert as if sent `hours_later` hours before this failure.
        state = load_groups(instance)
        save_groups(
            instance,
            {
                key: dataclasses.replace(t, first_at=t.first_at - dt.timedelta(hours=hours_later))
                for key, t in state.items()
            },
        )
        result = run_job(
            instance, "ingest_orders", partition_key=day, tags={"dagster/backfill": BACKFILL}
        )
        evaluate_run_failure(instance, result)

    fail(DAYS[0], 0)
    fail(DAYS[1], 3)  # past the 60-minute window: a backfill's group still holds
    assert len(slack.posts) == 1 and len(slack.updates) == 1
    fail(DAYS[2], 24)  # a day on: announced once more
    assert len(slack.posts) == 2
