"""A failed run marked `dagster/will_retry=true` that no retry follows is alerted once, by the
pending-alerts sensor; one that was retried is left to its retry's alert.
(tests/test_alerts_daemon.py does it for a CLI run killed while no daemon ran.)"""

from orchestration.alerts.run_failure import load_pending
from tests.alerts.code_location import evaluate_run_failure, pending_tick, run_job


def test_a_run_marked_for_a_retry_that_cannot_come_alerts_once(retrying_instance, slack):
    instance = retrying_instance
    failed = run_job(
        instance, "ingest_orders", partition_key="2024-01-03", tags={"dagster/max_retries": "1"}
    )
    # Dagster marked it for a retry, which its daemon can never launch: the run was executed
    # outside any code location (as `dagster asset materialize` runs are).
    assert instance.get_run_by_id(failed.run_id).tags["dagster/will_retry"] == "true"
    assert evaluate_run_failure(instance, failed) is None
    assert slack.attempts == []

    assert pending_tick(instance).skip_message == "Slack: 1 delayed run-failure alert(s) sent."
    for _ in range(2):
        assert pending_tick(instance).skip_message == "No run-failure alert waiting."

    [message] = slack.messages
    assert f"/runs/{failed.run_id}|" in message.text
    assert (
        "*Not retried:* marked for a retry that never came; started outside a code location "
        "(e.g. from the CLI), so Dagster cannot retry it\n"
    ) in message.text
    run = instance.get_run_by_id(failed.run_id)
    assert run.tags["dagster/will_retry"] == "false"  # what the UI shows from now on
    assert load_pending(instance) == []


def test_a_run_whose_retry_was_launched_is_left_to_the_retry(retrying_instance, slack):
    instance = retrying_instance
    failed = run_job(
        instance, "ingest_orders", partition_key="2024-01-03", tags={"dagster/max_retries": "1"}
    )
    # Its retry, as Dagster's daemon launches one: a run that names it as its parent.
    retry = run_job(
        instance,
        "ingest_orders",
        partition_key="2024-01-03",
        tags={"dagster/parent_run_id": failed.run_id, "dagster/root_run_id": failed.run_id},
    )

    assert pending_tick(instance).skip_message == "No run-failure alert waiting."
    assert slack.chat_attempts == []
    assert instance.get_run_by_id(failed.run_id).tags["dagster/will_retry"] == "true"
    assert not retry.success  # its own failure is the run-failure sensor's to alert
