"""The data checks doing their job on real data: a failing blocking check on raw orders keeps
every dbt model from building in that run, and a raw column that changes is flagged as drift."""

import dagster as dg
import duckdb
import pytest

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from orchestration.definitions import defs
from tests.support import run_partition_range

RAW_ORDERS = dg.AssetKey(["raw", "orders"])
DBT_STEPS = {"dbt_models"}


def _step(name: str) -> dg.AssetsDefinition:
    return next(a for a in defs.assets if a.node_def.name == name)


def _events(result, kind: str) -> list:
    return [e for e in result.all_events if e.event_type_value == kind]


@pytest.fixture
def api_missing_a_day(monkeypatch):
    """The stand-in serving no orders before 2024-03-02: the window's first day is empty."""
    with running_api(ApiSettings(first_day=ApiSettings().first_day.replace(month=3, day=2))) as url:
        monkeypatch.setenv("JAFFLE_API_URL", url)
        yield url


def test_a_day_without_orders_fails_the_blocking_check_and_no_dbt_model_is_built(
    api_missing_a_day, warehouse
):
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_partition_range(
            defs, instance, "2024-03-01", "2024-03-03", raise_on_error=False
        )

    assert not result.success
    [present] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key.name == "orders_present_every_day"
    ]
    assert not present.passed
    assert present.metadata["empty_days"].value == "2024-03-01"
    assert present.metadata["days"].value == 3
    # Raw was loaded (the check ran on real data), but nothing downstream of it was built.
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert RAW_ORDERS in materialized
    assert {key.path[0] for key in materialized} == {"raw"}
    started = {e.step_key for e in _events(result, "STEP_START")}
    assert started.isdisjoint(DBT_STEPS | {"dashboards__daily_revenue_chart"})
    assert {node.name for node in result.job_def.nodes} >= DBT_STEPS  # they were in the run
    failed = {e.step_key for e in _events(result, "STEP_FAILURE")}
    assert failed == {"raw_orders_partition_checks"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select schema_name from duckdb_schemas()").fetchall()}
    assert "raw" in schemas and not schemas & {"staging", "marts"}


def test_a_day_with_orders_passes_the_same_blocking_check(api_url, warehouse):
    # The control: the same run over days that all have orders gets past the check.
    with dg.DagsterInstance.ephemeral() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=list(_step("raw_orders").keys),
            partition_key="2024-03-02",
        )
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["orders_present_every_day"] is True
    assert checks["schema_unchanged"] is True


def _drift_check(job, instance) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(RAW_ORDERS, "schema_unchanged")
    subset = job.get_subset(asset_selection=set(), asset_check_selection={key})
    result = subset.execute_in_process(instance=instance)
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key == key
    return evaluation


def test_a_raw_column_added_dropped_or_retyped_is_flagged_as_drift(api_url, warehouse):
    with dg.DagsterInstance.ephemeral() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        job.execute_in_process(
            instance=instance,
            asset_selection=list(_step("raw_orders").keys),
            partition_key="2024-03-02",
        )
        before = _drift_check(job, instance)
        with duckdb.connect(str(warehouse)) as con:
            con.execute("alter table raw.orders add column coupon_code varchar")
            con.execute("alter table raw.orders drop column tax_paid")
            con.execute("alter table raw.orders alter column subtotal type double")
        after = _drift_check(job, instance)

    assert before.passed
    assert not after.passed
    assert after.severity == dg.AssetCheckSeverity.WARN
    metadata = {name: value.value for name, value in after.metadata.items()}
    assert metadata["orders_added"] == "coupon_code VARCHAR"
    assert metadata["orders_removed"] == "tax_paid"
    assert metadata["orders_retyped"] == "subtotal: BIGINT -> DOUBLE"
    assert "orders__items_added" not in metadata  # the child table did not change
