"""Fixtures of the fast alert tests: real Dagster instances with the run retries the project
ships."""

from collections.abc import Iterator

import dagster as dg
import pytest

from tests.alerts.code_location import RUN_RETRIES


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A fresh in-memory instance with the shipped run retries."""
    with dg.DagsterInstance.ephemeral(settings=RUN_RETRIES) as instance:
        yield instance


@pytest.fixture
def retrying_instance() -> Iterator[dg.DagsterInstance]:
    """Run retries on step failures too, for runs tagged `dagster/max_retries`, so that an
    in-process run can be one Dagster will retry (with the shipped config only a run whose
    process died is, which needs a real process: tests/test_recovery.py)."""
    settings = {
        "run_retries": {
            **RUN_RETRIES["run_retries"],
            "retry_on_asset_or_op_failure": True,
            "max_retries": 0,  # only runs tagged dagster/max_retries retry
        }
    }
    with dg.DagsterInstance.ephemeral(settings=settings) as instance:
        yield instance


@pytest.fixture(params=["in-memory", "sqlite"])
def any_instance(request) -> Iterator[dg.DagsterInstance]:
    """Both storages: in memory, and the run-sharded SQLite that `dagster dev` uses (where
    cross-run event queries work differently)."""
    if request.param == "in-memory":
        with dg.DagsterInstance.ephemeral(settings=RUN_RETRIES) as instance:
            yield instance
    else:
        with dg.instance_for_test(overrides=RUN_RETRIES) as instance:
            assert instance.event_log_storage.is_run_sharded
            yield instance
