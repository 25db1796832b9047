"""A never-built asset is not an incident: its failed freshness checks are held back and named in
one message for the whole platform; once the schedule has tried to build it, lateness alerts,
once per stretch of lateness."""

from orchestration.alerts.check_cursor import Cursor
from tests.alerts.code_location import run_job, scheduled_ingest, started, tick

NOT_BUILT = (
    ":wave: *Not built yet:* `raw/orders`\n"
    "No partition they are due has been built and the daily schedule has not run for them yet, "
    "so they are not alerted as stale until then. Nothing has failed.\n"
    "Build the due day with `make backfill START=YYYY-MM-DD END=YYYY-MM-DD` "
    "(an earlier START adds history)."
)


def test_a_never_built_asset_is_named_once_and_not_alerted_stale(instance, slack):
    cursor = started(instance)
    for _ in range(3):  # evaluated again and again, late every time
        assert not run_job(instance, "freshness").get_asset_check_evaluations()[0].passed
        result, cursor = tick(instance, cursor)

    assert [m.text for m in slack.messages] == [NOT_BUILT]
    assert Cursor.loads(cursor).not_built_sent


def test_once_the_schedule_tried_the_asset_its_lateness_alerts_once(instance, slack):
    cursor = started(instance)
    run_job(instance, "freshness")
    _, cursor = tick(instance, cursor)
    scheduled_ingest(instance)  # the schedule's run fails (its own run alert says so)

    for _ in range(3):
        run_job(instance, "freshness")
        _, cursor = tick(instance, cursor)

    assert [m.text.splitlines()[0] for m in slack.messages] == [
        ":wave: *Not built yet:* `raw/orders`",
        ":hourglass: *Stale:* `raw/orders`: freshness check `freshness_check` failed (WARN)",
    ]
