"""The daily schedule and the API observation, taken from the platform's `Definitions` and run
through Dagster's own machinery: removing either from `defs` fails these tests."""

import datetime as dt
import itertools
import json
import socket

import dagster as dg

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.definitions import defs
from tests.support import fetch_all
from transform.project import manifest_path

JAFFLE_SHOP_API = dg.AssetKey(["jaffle_shop_api"])


def _materializable_keys() -> set[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}


def _as_the_daemon_sees_it(schedule: dg.ScheduleDefinition):
    """The schedule as the daemon reads it from the code location: its state on an instance
    where nobody has touched it, and the times it ticks."""
    from dagster._core.remote_representation.external import RemoteSchedule
    from dagster._core.remote_representation.external_data import ScheduleSnap
    from dagster._core.remote_representation.handle import RepositoryHandle

    snap = ScheduleSnap.from_def(schedule, defs.get_repository_def())
    return RemoteSchedule(snap, RepositoryHandle.for_test())


def test_the_schedule_runs_on_a_fresh_instance_at_two_every_night_utc():
    remote = _as_the_daemon_sees_it(defs.resolve_schedule_def("daily_refresh_schedule"))
    assert remote.get_current_instigator_state(stored_state=None).is_running
    after = dt.datetime(2024, 3, 9, 23, 30, tzinfo=dt.UTC).timestamp()  # a leap-year March
    ticks = list(itertools.islice(remote.execution_time_iterator(after), 3))
    assert ticks == [dt.datetime(2024, 3, day, 2, 0, tzinfo=dt.UTC) for day in (10, 11, 12)]


def test_the_daily_tick_requests_yesterdays_partition_of_the_whole_graph():
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    tick_time = dt.datetime(2024, 3, 6, 2, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick_time)
        tick = schedule.evaluate_tick(context)

    assert [request.partition_key for request in tick.run_requests] == ["2024-03-05"]
    job = defs.resolve_job_def(schedule.job_name)
    selected = set(job.asset_layer.selected_asset_keys)
    # Nothing is left for a second job: every materializable asset, which includes every
    # model of the dbt project's manifest.
    assert selected == _materializable_keys()
    manifest = json.loads(manifest_path().read_text())
    models = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["package_name"] == manifest["metadata"]["project_name"]
    }
    assert models and models <= {key.path[-1] for key in selected}


def test_the_tick_after_midnight_never_requests_the_day_still_running():
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    with dg.instance_for_test() as instance:
        for tick_time, expected in [
            (dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC), "2024-02-29"),  # leap day
            (dt.datetime(2025, 1, 1, 2, 0, tzinfo=dt.UTC), "2024-12-31"),  # year boundary
        ]:
            context = dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick_time
            )
            keys = [r.partition_key for r in schedule.evaluate_tick(context).run_requests]
            assert keys == [expected]


def _observe(instance) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("observe_jaffle_shop_api")
    return job.execute_in_process(instance=instance, raise_on_error=False)


def _observations(result) -> list:
    return [
        event.event_specific_data.asset_observation
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    ]


def test_observing_the_api_records_its_latest_day_as_the_data_version(api_url):
    schedule = defs.resolve_schedule_def("observe_jaffle_shop_api_schedule")
    assert schedule.job_name == "observe_jaffle_shop_api"
    today = dt.datetime.now(dt.UTC).date()
    latest = next(
        day
        for day in (today - dt.timedelta(days=n) for n in range(8))
        if fetch_all(api_url, "orders", start_date=day.isoformat(), end_date=day.isoformat())
    )
    with dg.instance_for_test() as instance:
        result = _observe(instance)
        assert result.success
        [observation] = _observations(result)
        assert observation.asset_key == JAFFLE_SHOP_API
        assert observation.tags["dagster/data_version"] == latest.isoformat()
        metadata = {name: value.value for name, value in observation.metadata.items()}
        assert metadata["url"] == api_url
        assert metadata["reachable"] is True
        assert metadata["latest_day_with_orders"] == latest.isoformat()
        # What the UI shows: the observation is in the instance, with its data version.
        record = instance.get_latest_data_version_record(JAFFLE_SHOP_API, is_source=True)
        assert record.asset_observation.tags["dagster/data_version"] == latest.isoformat()


def _failure_of(result) -> dg.Failure:
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data


def test_observing_an_api_in_an_outage_reports_it_unreachable(monkeypatch):
    with running_api(ApiSettings(outage=True)) as down_url, dg.instance_for_test() as instance:
        monkeypatch.setenv("JAFFLE_API_URL", down_url)
        result = _observe(instance)
    assert not result.success
    assert _observations(result) == []
    failure = _failure_of(result)
    assert failure.user_failure_data.metadata["reachable"].value is False
    assert failure.user_failure_data.metadata["url"].value == down_url
    assert down_url in failure.user_failure_data.description
    assert "JAFFLE_API_URL" in failure.user_failure_data.description


def test_observing_an_api_where_nothing_listens_reports_it_unreachable(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1"
    monkeypatch.setenv("JAFFLE_API_URL", url)
    with dg.instance_for_test() as instance:
        result = _observe(instance)
    assert not result.success
    failure = _failure_of(result)
    assert failure.user_failure_data.metadata["reachable"].value is False
    assert url in failure.user_failure_data.description
