"""A fork brings its own dbt project and writes no Python: the repository copied, dbt_project/
replaced with tests/fork_dbt_project/ (other names and folders, its own schema macro, a local
package, an incremental model, sources named `raw_*` without asset keys) keeping the template's
profiles.yml, then `make setup` and `make backfill` in the copy, on a fresh warehouse.

These are the platform's guarantees, tested on a project that is not the example."""

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from jaffle_api.server import running_api
from jaffle_api.settings import Settings as ApiSettings
from tests.processes import kill_tree
from tests.support import fetch_all, query

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FORK_PROJECT = PROJECT_ROOT / "tests" / "fork_dbt_project"
BIN = Path(sys.executable).parent
FIRST_DAY, LAST_DAY, NEXT_DAY = "2024-05-01", "2024-05-02", "2024-05-03"

BASE = {"base_orders", "base_order_items", "base_customers", "base_products", "base_stores"}
BASE |= {"base_supplies"}
REPORTING = {"order_facts", "customer_summary", "store_daily_sales"}
# Which dlt asset each fork source must resolve to (by the table it names with `identifier:`).
SOURCE_ASSETS = {
    "base/base_orders": "raw/orders",
    "base/base_order_items": "raw/orders",  # orders__items, loaded with the orders
    "base/base_customers": "raw/customers",
    "base/base_products": "raw/products",
    "base/base_stores": "raw/stores",
    "base/base_supplies": "raw/supplies",
}

# The graph as the copy's code location sees it, printed as JSON by a process in the copy.
DUMP_GRAPH = """
import json
from orchestration.definitions import defs
graph = defs.resolve_asset_graph()
print(json.dumps({
    key.to_user_string(): {
        "group": graph.get(key).group_name,
        "kinds": sorted(graph.get(key).kinds),
        "materializable": graph.get(key).is_materializable,
        "parents": sorted(p.to_user_string() for p in graph.get(key).parent_keys),
        "freshness": graph.get(key).freshness_policy is not None,
        "partitioned": graph.get(key).partitions_def is not None,
    }
    for key in graph.get_all_asset_keys()
}))
"""


def _files_to_copy() -> list[str]:
    """Tracked files and new ones not ignored: the tree as a fork would clone it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [path for path in listed.split("\0") if path]


def _run(command: list, copy: Path, env: dict, timeout: float = 600) -> tuple[int, str]:
    """A command in the copy, as a terminal runs it; its exit code and output."""
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        kill_tree(process.pid)
    return process.returncode, output


@pytest.fixture(scope="module")
def fork(api_url, tmp_path_factory) -> Iterator[tuple[Path, dict]]:
    """The copy with the fork's dbt project in dbt_project/, after `make setup`."""
    copy = tmp_path_factory.mktemp("fork") / "forked"
    for path in _files_to_copy():
        source = PROJECT_ROOT / path
        if source.is_file() and not path.startswith("dbt_project/"):
            (copy / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / path)
    # The fork's step: its project in place of the example's, the template's profile kept.
    shutil.copytree(FORK_PROJECT, copy / "dbt_project")
    shutil.copy2(PROJECT_ROOT / "dbt_project" / "profiles.yml", copy / "dbt_project")
    # The installed environment, shared rather than built again (uv.lock is the same).
    (copy / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    (copy.parent / "tmp").mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "DAGSTER_HOME", "DUCKDB_PATH", "PYTEST_ADDOPTS"}
    }
    env |= {"JAFFLE_API_URL": api_url, "TMPDIR": str(copy.parent / "tmp"), "DO_NOT_TRACK": "1"}
    # The fork installs its packages, as dbt's docs say (offline: a `local:` package).
    code, output = _run([BIN / "dbt", "deps", "--project-dir", "dbt_project"], copy, env)
    assert code == 0, output[-3000:]
    code, output = _run(["make", "--no-print-directory", "setup"], copy, env)
    assert code == 0, output[-3000:]
    yield copy, env
    shutil.rmtree(copy.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def graph(fork) -> dict:
    copy, env = fork
    code, output = _run([BIN / "python", "-c", DUMP_GRAPH], copy, env)
    assert code == 0, output[-3000:]
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def backfilled(fork) -> tuple[int, str]:
    """A two-day `make backfill` on the copy's fresh warehouse."""
    copy, env = fork
    assert not (copy / "data").exists()
    return _run(_backfill(FIRST_DAY, LAST_DAY), copy, env)


def _backfill(start: str, end: str) -> list[str]:
    return ["make", "--no-print-directory", "backfill", f"START={start}", f"END={end}"]


def _order_facts(copy: Path) -> tuple[int, int, float, int]:
    ((count, distinct, total, items),) = query(
        copy / "data" / "warehouse.duckdb",
        "select count(*), count(distinct order_id), sum(total_amount), sum(item_count) "
        "from main_reporting.order_facts",
    )
    return count, distinct, float(total), items


def _served(orders: list[dict]) -> tuple[int, int, float, int]:
    """What order_facts must hold for these orders of the API."""
    total = sum(order["order_total"] for order in orders) / 100
    return len(orders), len(orders), pytest.approx(total), sum(len(o["items"]) for o in orders)


def test_keys_and_groups_come_from_the_fork_folders_not_its_schemas(graph):
    dbt = {key: node for key, node in graph.items() if "dbt" in node["kinds"]}
    # models/reporting/finance/store_daily_sales.sql is `reporting/store_daily_sales`, although
    # the fork's macro builds it in the schema main_reporting.
    assert set(dbt) == {f"base/{m}" for m in BASE} | {f"reporting/{m}" for m in REPORTING}
    assert {key: node["group"] for key, node in dbt.items()} == {
        key: key.split("/")[0] for key in dbt
    }
    # Declared on the reporting folder in the fork's dbt_project.yml, on nothing else.
    assert {key for key, node in dbt.items() if node["freshness"]} == {
        f"reporting/{m}" for m in REPORTING
    }


def test_the_fork_microbatch_model_is_daily_partitioned_with_no_configuration(graph):
    dbt = {key: node for key, node in graph.items() if "dbt" in node["kinds"]}
    # store_daily_sales says `incremental_strategy: microbatch, batch_size: day`, nothing more.
    assert {key for key, node in dbt.items() if node["partitioned"]} == {
        "reporting/store_daily_sales"
    }


def test_each_fork_source_is_the_dlt_asset_that_loads_its_table(graph):
    dbt = {key: node for key, node in graph.items() if "dbt" in node["kinds"]}
    for key, node in dbt.items():
        for parent in node["parents"]:
            assert graph[parent]["materializable"], f"{key} reads {parent}, which is not defined"
    assert {key: dbt[key]["parents"] for key in SOURCE_ASSETS} == {
        key: [asset] for key, asset in SOURCE_ASSETS.items()
    }
    assert all("dlt" in graph[asset]["kinds"] for asset in SOURCE_ASSETS.values())


def test_a_two_day_backfill_builds_the_fork_models_after_dlt_loaded(fork, backfilled, api_url):
    copy, _ = fork
    _, output = backfilled
    dbt_started = output.find('Started execution of step "dbt_models"')
    assert dbt_started > 0, output[-4000:]
    for loader in ("raw_orders", "raw_reference"):
        assert 0 < output.find(f'Finished execution of step "{loader}"') < dbt_started
    assert 'Finished execution of step "dbt_models"' in output, output[-4000:]
    orders = fetch_all(api_url, "orders", start_date=FIRST_DAY, end_date=LAST_DAY)
    assert _order_facts(copy) == _served(orders)
    ((revenue,),) = query(
        copy / "data" / "warehouse.duckdb",
        "select sum(revenue) from main_reporting.store_daily_sales",
    )
    assert float(revenue) == pytest.approx(sum(o["order_total"] for o in orders) / 100)


def test_the_fork_tables_record_row_counts_and_its_views_none(fork, backfilled):
    copy, _ = fork
    with dg.DagsterInstance.from_config(str(copy / ".dagster")) as instance:
        counts = {}
        for key in [f"base/{m}" for m in BASE] + [f"reporting/{m}" for m in REPORTING]:
            event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
            assert event is not None, key
            metadata = event.asset_materialization.metadata
            counts[key] = (
                metadata["dagster/row_count"].value if "dagster/row_count" in metadata else None
            )
    warehouse = copy / "data" / "warehouse.duckdb"
    assert counts == {
        **{f"base/{m}": None for m in BASE},
        **{
            f"reporting/{m}": query(warehouse, f"select count(*) from main_reporting.{m}")[0][0]
            for m in REPORTING
        },
    }


def test_the_two_day_backfill_succeeds(backfilled):
    code, output = backfilled
    assert code == 0, output[-4000:]


def _revenue_per_day(copy: Path) -> dict[str, float]:
    rows = query(
        copy / "data" / "warehouse.duckdb",
        "select cast(order_day as varchar), sum(revenue) from main_reporting.store_daily_sales "
        "group by all",
    )
    return {day: float(revenue) for day, revenue in rows}


def _served_per_day(orders: list[dict]) -> dict[str, float]:
    days: dict[str, float] = {}
    for order in orders:
        day = order["ordered_at"][:10]
        days[day] = days.get(day, 0) + order["order_total"] / 100
    return {day: pytest.approx(total) for day, total in days.items()}


def _partition_status(copy: Path, days: list[str]) -> dict[str, str]:
    """Dagster's status of each day of the microbatch model, as the UI's partitions tab."""
    from core.partitions import daily_partitions

    key = dg.AssetKey(["reporting", "store_daily_sales"])
    with dg.DagsterInstance.from_config(str(copy / ".dagster")) as instance:
        status = instance.get_status_by_partition(key, days, daily_partitions)
    return {day: getattr(status.get(day), "value", "MISSING") for day in days}


def test_the_microbatch_model_holds_each_day_the_api_served(fork, backfilled, api_url):
    copy, _ = fork
    orders = fetch_all(api_url, "orders", start_date=FIRST_DAY, end_date=LAST_DAY)
    assert _revenue_per_day(copy) == _served_per_day(orders)
    assert _partition_status(copy, [FIRST_DAY, LAST_DAY, NEXT_DAY]) == {
        FIRST_DAY: "MATERIALIZED",
        LAST_DAY: "MATERIALIZED",
        NEXT_DAY: "MISSING",
    }


def test_the_incremental_model_adds_the_next_day(fork, backfilled, api_url):
    """A second backfill builds order_facts incrementally (`is_incremental()`): it then holds
    the three days, each order once."""
    copy, env = fork
    _, output = _run(_backfill(NEXT_DAY, NEXT_DAY), copy, env)
    assert 'Finished execution of step "dbt_models"' in output, output[-4000:]
    orders = fetch_all(api_url, "orders", start_date=FIRST_DAY, end_date=NEXT_DAY)
    assert _order_facts(copy) == _served(orders)


def test_a_failed_batch_leaves_its_day_failed_and_a_corrected_day_replaced(fork, api_url):
    """The API corrects LAST_DAY (late data), and the batch of NEXT_DAY fails in dbt: a run of
    both days replaces LAST_DAY's rows, the step's retry reruns only the failed batch, and
    Dagster shows NEXT_DAY failed and LAST_DAY materialized."""
    copy, env = fork
    before = _revenue_per_day(copy)
    corrected = dataclasses.replace(
        ApiSettings.from_env({}), revised_days=(dt.date.fromisoformat(LAST_DAY),)
    )
    with running_api(corrected) as corrected_url:
        code, output = _run(
            _backfill(LAST_DAY, NEXT_DAY),
            copy,
            {**env, "JAFFLE_API_URL": corrected_url, "FORK_FAIL_BATCH_DAY": NEXT_DAY},
        )
        revised = fetch_all(corrected_url, "orders", start_date=LAST_DAY, end_date=LAST_DAY)
    assert code != 0, output[-4000:]
    assert "`dbt retry` reruns only what failed" in output, output[-4000:]
    assert f"reporting/store_daily_sales: dbt built 1 day(s) and failed {NEXT_DAY}" in output
    after = _revenue_per_day(copy)
    assert after[LAST_DAY] == _served_per_day(revised)[LAST_DAY]
    assert after[LAST_DAY] != pytest.approx(before[LAST_DAY])
    assert after[FIRST_DAY] == before[FIRST_DAY]
    assert _partition_status(copy, [FIRST_DAY, LAST_DAY, NEXT_DAY]) == {
        FIRST_DAY: "MATERIALIZED",
        LAST_DAY: "MATERIALIZED",
        NEXT_DAY: "FAILED",
    }


def test_a_run_of_the_failed_day_heals_it(fork, api_url):
    copy, env = fork
    code, output = _run(_backfill(NEXT_DAY, NEXT_DAY), copy, env)
    assert code == 0, output[-4000:]
    served = fetch_all(api_url, "orders", start_date=NEXT_DAY, end_date=NEXT_DAY)
    assert _revenue_per_day(copy)[NEXT_DAY] == _served_per_day(served)[NEXT_DAY]
    assert _partition_status(copy, [FIRST_DAY, LAST_DAY, NEXT_DAY]) == dict.fromkeys(
        [FIRST_DAY, LAST_DAY, NEXT_DAY], "MATERIALIZED"
    )


def test_a_source_no_dlt_asset_loads_stops_dg_check_defs(fork):
    copy, env = fork
    sources = copy / "dbt_project" / "models" / "base" / "_sources.yml"
    original = sources.read_text()
    sources.write_text(original.replace("identifier: supplies", "identifier: refunds"))
    try:
        code, output = _run(["make", "--no-print-directory", "setup"], copy, env)
        assert code == 0, output[-3000:]
        code, output = _run([BIN / "dg", "check", "defs"], copy, env)
    finally:
        sources.write_text(original)
    assert code != 0
    assert "dbt source `ecom.raw_supplies` reads the table raw.refunds" in output, output[-3000:]
    assert "raw.orders__items (raw/orders)" in output
