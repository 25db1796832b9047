"""The morning digest against real in-process runs of the platform on the API stand-in: after a
day whose orders had two malformed records it names exactly the failing check and those two
dead letters; after the day is replayed clean it says "all good" in one line. Its figures are
compared with the instance (partitions, check results, runs) and the warehouse (dead letters).
"""

import dataclasses
import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pytest

from jaffle_api.order_book import malformed_orders
from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.alerts.digest import Digest, gather, render
from orchestration.checks.freshness import SENSOR_NAME, expected_partition
from orchestration.definitions import defs
from tests.processes import start_make
from tests.slack_standin import WEBSERVER
from tests.support import query, run_partition_range

NOW = dt.datetime.now(dt.UTC)
YESTERDAY = (NOW - dt.timedelta(days=1)).date()


@dataclasses.dataclass
class Day:
    digest: Digest
    text: str
    failed_checks: set[str]
    """From the run's own check results."""
    daily_built: set[str]
    """Daily assets with yesterday's partition materialized, from the instance."""
    dead_letters: int
    """Yesterday's rows of raw.dead_letter, from the warehouse."""
    failed_runs: int


def two_malformed_orders_yesterday() -> ApiSettings:
    """The stand-in's settings under which exactly two of yesterday's orders are malformed."""
    for per_mille in range(5, 40):
        settings = dataclasses.replace(ApiSettings.from_env({}), malformed_rate=per_mille / 1000)
        if len(malformed_orders(settings, YESTERDAY)) == 2:
            return settings
    raise AssertionError(f"no malformed rate gives two malformed orders on {YESTERDAY}")


@pytest.fixture(scope="module")
def days(api_url, tmp_path_factory) -> Iterator[tuple[Day, Day, dict[str, str]]]:
    warehouse = tmp_path_factory.mktemp("digest") / "warehouse.duckdb"
    graph = defs.resolve_asset_graph()
    daily = [
        key
        for key in graph.materializable_asset_keys
        if isinstance(graph.get(key).partitions_def, dg.TimeWindowPartitionsDefinition)
    ]
    partitions = graph.get(daily[0]).partitions_def
    # From the day the freshness checks expect (the day before yesterday until 06:00 UTC).
    first = expected_partition(partitions, NOW)
    bad = two_malformed_orders_yesterday()
    with (
        pytest.MonkeyPatch.context() as env,
        dg.instance_for_test() as instance,
        running_api(bad) as bad_url,
    ):
        env.setenv("DUCKDB_PATH", str(warehouse))
        env.setenv("MAX_REJECTED_SHARE", "0.05")  # two of a day's orders, kept, not failing
        observed = []
        for api in (bad_url, api_url):  # the day with bad records, then its clean replay
            env.setenv("JAFFLE_API_URL", api)
            result = run_partition_range(defs, instance, first, YESTERDAY.isoformat())
            evaluate_freshness_as_the_sensor_does(instance)
            digest = gather(instance, graph, NOW)
            observed.append(
                Day(
                    digest=digest,
                    text=render(digest, WEBSERVER),
                    failed_checks={
                        e.asset_check_key.to_user_string()
                        for e in result.get_asset_check_evaluations()
                        if not e.passed
                    },
                    daily_built={
                        key.to_user_string()
                        for key in daily
                        if YESTERDAY.isoformat() in instance.get_materialized_partitions(key)
                    },
                    dead_letters=query(
                        warehouse,
                        f"select count(*) from raw.dead_letter where day = '{YESTERDAY}'",
                    )[0][0],
                    failed_runs=len(
                        instance.get_run_records(
                            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])
                        )
                    ),
                )
            )
        yield (
            observed[0],
            observed[1],
            {
                "DAGSTER_HOME": instance.root_directory,
                "DUCKDB_PATH": str(warehouse),
            },
        )


def evaluate_freshness_as_the_sensor_does(instance: dg.DagsterInstance) -> None:
    sensor = defs.get_sensor_def(SENSOR_NAME)
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        requests = sensor.evaluate_tick(context).run_requests
    for request in requests:
        checks = set(request.asset_check_keys)
        job = defs.resolve_implicit_global_asset_job_def()
        job.get_subset(asset_selection=set(), asset_check_selection=checks).execute_in_process(
            instance=instance
        )


def test_after_a_day_with_a_failed_check_and_two_dead_letters_it_names_exactly_those(days):
    bad, _, _ = days
    digest = bad.digest

    assert digest.day == YESTERDAY.isoformat()
    assert bad.failed_checks == {"raw/orders:no_rejected_records"}
    assert digest.failing_checks == ("raw/orders:no_rejected_records (WARN)",)
    assert bad.dead_letters == sum(digest.dead_letters.values()) == 2
    assert set(digest.built) == bad.daily_built and not digest.failed and not digest.missing
    assert bad.failed_runs == len(digest.failed_runs) == 0
    assert digest.late == ()
    assert not digest.all_good
    assert "*Checks failing now:* `raw/orders:no_rejected_records (WARN)`" in bad.text
    assert f"*Dead letters:* 2 for {YESTERDAY}" in bad.text
    assert "*Runs failed:* none" in bad.text


def test_after_a_clean_day_it_says_all_good_in_one_line(days):
    _, clean, _ = days
    digest = clean.digest

    assert clean.failed_checks == set() and clean.dead_letters == 0
    assert digest.all_good
    assert set(digest.built) == clean.daily_built
    assert clean.text == (
        f":white_check_mark: *Morning digest {YESTERDAY}:* all good: {len(clean.daily_built)} "
        f"daily assets built, {digest.checks_passing} checks passing, {digest.fresh} on time, no "
        "dead letters, no failed runs."
    )
    assert digest.fresh == 3  # each daily mart's freshness check, judged by its sensor


def test_make_digest_prints_it(days, tmp_path):
    _, clean, env = days

    code = start_make(["digest"], env, tmp_path / "digest.log").wait(timeout=120)

    output = (tmp_path / "digest.log").read_text()
    assert code == 0, output
    assert output.splitlines()[-1] == clean.text
