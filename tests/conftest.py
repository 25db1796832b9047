"""Fixtures that start the real parts: the stand-in API on a free loopback port, a temporary
DuckDB warehouse, and a temporary Dagster instance."""

import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slack_standin import TOKEN, WEBSERVER, SlackStandIn, running_slack
from tests.support import REFERENCE_DAYS

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# Dagster's step retries wait 1 s, 2 s, 4 s here instead of 30 s, 60 s, 120 s; dlt's own HTTP
# retries back off from 0.2 s. Same layers, same counts, shorter waits.
os.environ.setdefault("STEP_RETRY_DELAY_S", "1")
os.environ.setdefault("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The slowest modules (`make test --durations`, 2 cores), run first: with `--dist loadscope`
# (Makefile) each module goes whole to one worker, so one started last would leave the other
# worker idle while it runs. Modules not named here keep their order, after these.
SLOWEST_MODULES = (
    "test_recovery",
    "test_concurrency",
    "test_fork_project",
    "test_topology",
    "test_alerts_daemon",
    "test_quiet_alerts",
    "test_operations",
    "test_ui_operate",
    "test_serve_alerts",
    "test_interrupts",
    "test_digest",
    "test_idempotency",
    "test_postgres_warehouse",
    "test_api_address",
    "test_dead_letters",
)
# The throwaway PostgreSQL cluster (`postgres_cluster`, `dagster_postgres`), shared by the session.
pytest_plugins = ["tests.postgres"]


@pytest.fixture(scope="session")
def api_url() -> Iterator[str]:
    """The jaffle-shop stand-in, served over real HTTP on 127.0.0.1, for the whole session."""
    from jaffle_api.server import running_api

    with running_api() as base_url:
        previous = os.environ.get("JAFFLE_API_URL")
        os.environ["JAFFLE_API_URL"] = base_url
        yield base_url
        if previous is None:
            os.environ.pop("JAFFLE_API_URL", None)
        else:
            os.environ["JAFFLE_API_URL"] = previous


@pytest.fixture(scope="session")
def clean_warehouse(api_url, tmp_path_factory, worker_id) -> Path:
    """The warehouse folder after one uninterrupted in-process run of every asset for
    REFERENCE_DAYS: what any run of those days, however interrupted or concurrent, must equal.

    Made once per test session and shared by pytest-xdist's workers through the session's
    base temporary folder, behind a file lock: the first worker to ask runs it, the others
    wait and read the same files (read-only: copy the folder to change it)."""
    import dagster as dg

    from orchestration.definitions import defs
    from tests.support import run_partition_range

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    folder = shared / "clean-warehouse"
    with (shared / "clean-warehouse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
                env.setenv("DUCKDB_PATH", str(folder / "warehouse.duckdb"))
                assert run_partition_range(defs, instance, *REFERENCE_DAYS).success
            (folder / "complete").touch()
    return folder


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DuckDB file that dlt and dbt write to (through DUCKDB_PATH)."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    return path


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary DAGSTER_HOME holding the instance config the project ships."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStandIn]:
    """The Slack stand-in, with the alert settings pointing at it."""
    with running_slack(TOKEN) as standin:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", standin.base_url)
        monkeypatch.setenv("SLACK_CHANNEL", "#data-alerts")
        monkeypatch.setenv("DAGSTER_WEBSERVER_URL", WEBSERVER)
        monkeypatch.delenv("ALERT_GROUPING_WINDOW_MINUTES", raising=False)
        yield standin


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the slowest modules (SLOWEST_MODULES) to the front, each kept whole and in order."""
    rank = {name: index for index, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))
