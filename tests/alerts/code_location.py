"""What the fast alert tests run: a small code location with the failures alerts are about, the
platform's alert sensors as `orchestration.definitions` registers them, and helpers that
evaluate a sensor by hand (tests/test_alerts_daemon.py proves the daemon runs them for real)."""

import datetime as dt
import warnings

import dagster as dg
import yaml

from orchestration.alerts import grouping
from orchestration.alerts.check_cursor import Cursor
from orchestration.alerts.slack import SlackResource, slack_resource
from orchestration.definitions import defs as platform
from tests.conftest import PROJECT_ROOT

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

ingest_orders = dg.define_asset_job("ingest_orders", selection=[raw_orders, marts_orders])
ingest_orders_schedule = dg.build_schedule_from_partitioned_job(ingest_orders, hour_of_day=2)

defs = dg.Definitions(
    assets=[raw_orders, marts_orders, raw_customers],
    asset_checks=[customers_have_ids, customers_have_emails, *freshness_checks],
    jobs=[
        ingest_orders,
        dg.define_asset_job("customers", selection=dg.AssetSelection.assets(raw_customers)),
        dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*freshness_checks)),
    ],
    schedules=[ingest_orders_schedule],
)


def run_job(instance: dg.DagsterInstance, name: str, **kwargs) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(name).execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )


def scheduled_ingest(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The schedule's run of the last complete day, as the daemon launches it (it fails: see
    `raw_orders`): from then on `raw/orders` is in service and its lateness alerts."""
    schedule = defs.get_schedule_def(ingest_orders_schedule.name)
    with dg.build_schedule_context(instance=instance) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    return run_job(
        instance,
        "ingest_orders",
        partition_key=request.partition_key,
        tags={**request.tags, **dg.DagsterRun.tags_for_schedule(schedule)},
    )


# The run retries of the instance config the project ships (retry a run whose process died,
# not one whose step failed: the steps' retry policies own those).
RUN_RETRIES = {
    "run_retries": yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["run_retries"]
}


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


def pending_tick(instance: dg.DagsterInstance, resource=None):
    """One evaluation of the sensor that sends the run alerts Slack refused earlier."""
    with dg.build_sensor_context(
        instance=instance, resources={"slack": resource or slack_resource()}
    ) as context:
        return slack_on_pending_run_alerts(context)


def slack_without_retries(base_url: str) -> SlackResource:
    """The alert sensors' Slack resource with its retries off: a refused post is refused now."""
    return SlackResource(token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=base_url, max_retries=0)
