"""WAREHOUSE=postgres: the same backfill into a Postgres warehouse, with the Dagster instance on
Postgres too (deploy/dagster.yaml), ends with the same marts as one into DuckDB.

A throwaway cluster (tests/postgres.py) on 127.0.0.1; `make backfill` as a real process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.postgres import postgres_cluster  # noqa: F401 (the session's throwaway cluster)
from tests.processes import PROJECT_ROOT, make_backfill
from tests.support import REFERENCE_DAYS, fetch_all

START, END = REFERENCE_DAYS
MARTS = ("customers", "daily_revenue", "locations", "order_items", "orders", "products", "supplies")


def mart_rows(execute) -> dict[str, Counter]:
    """Every mart as a multiset of rows, columns in table order."""
    tables = {}
    for table in MARTS:
        columns = [
            name
            for (name,) in execute(
                "select column_name from information_schema.columns "
                f"where table_schema = 'marts' and table_name = '{table}' "
                "order by ordinal_position"
            )
        ]
        select = ", ".join(f'"{column}"' for column in columns)
        tables[table] = Counter(
            tuple(_plain(value) for value in row)
            for row in execute(f'select {select} from marts."{table}"')
        )
    return tables


def _plain(value):
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, float):
        return round(value, 9)
    return value


@pytest.fixture(scope="module")
def postgres_backfill(postgres_cluster, api_url, tmp_path_factory):  # noqa: F811
    """One `make backfill` of the reference days with WAREHOUSE=postgres and the instance on
    Postgres (deploy/dagster.yaml): a warehouse database, an instance database and DAGSTER_HOME.
    Both tests read this one run, the warehouse it built and the instance that recorded it.
    Yields (exit code, output, env, warehouse database)."""
    folder = tmp_path_factory.mktemp("postgres_backfill")
    warehouse = postgres_cluster.create_database(f"warehouse_{folder.name[-8:]}".lower())
    instance = postgres_cluster.create_database(f"dagster_{folder.name[-8:]}".lower())
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "WAREHOUSE": "postgres",
        **warehouse.libpq_env(),
        **instance.dagster_env(),
        "DAGSTER_HOME": str(home),
        # Still set: dlt's working folder for the warehouse lives beside it.
        "DUCKDB_PATH": str(folder / "unused.duckdb"),
        "JAFFLE_API_URL": api_url,
    }
    code, output = make_backfill(START, END, env, folder / "backfill.log")
    yield code, output, env, warehouse
    postgres_cluster.drop_database(warehouse.dbname)
    postgres_cluster.drop_database(instance.dbname)


def test_a_postgres_backfill_equals_a_duckdb_one_and_reconciles_with_the_api(
    api_url, postgres_backfill, clean_warehouse
):
    code, output, _, warehouse = postgres_backfill
    assert code == 0, output[-3000:]

    with contextlib.closing(warehouse.connect()) as con, con.cursor() as cur:

        def on_postgres(sql):
            cur.execute(sql)
            return cur.fetchall()

        postgres_marts = mart_rows(on_postgres)
    # The same days run into DuckDB (the session's reference run).
    with duckdb.connect(str(clean_warehouse / "warehouse.duckdb"), read_only=True) as con:
        duckdb_marts = mart_rows(lambda sql: con.execute(sql).fetchall())

    for table in MARTS:
        assert postgres_marts[table] == duckdb_marts[table], f"marts.{table} differs"

    api_orders = fetch_all(api_url, "orders", start_date=START, end_date=END)
    orders = postgres_marts["orders"]
    assert sum(orders.values()) == len(api_orders)
    with contextlib.closing(warehouse.connect()) as con, con.cursor() as cur:
        cur.execute("select order_id from marts.orders")
        assert {row[0] for row in cur.fetchall()} == {order["id"] for order in api_orders}
        cur.execute("select order_date, sum(order_total) from marts.orders group by 1")
        revenue = {day: str(total) for day, total in cur.fetchall()}
    expected: Counter = Counter()
    for order in api_orders:
        expected[dt.date.fromisoformat(order["ordered_at"][:10])] += order["order_total"]
    assert revenue == {day: f"{cents / 100:.2f}" for day, cents in expected.items()}


def test_the_runs_of_a_postgres_instance_are_in_postgres(postgres_backfill):
    """The backfill above recorded its run in the Postgres instance, none on local files."""
    code, output, env, _ = postgres_backfill
    assert code == 0, output[-3000:]
    home = Path(env["DAGSTER_HOME"])
    assert not (home / "history").exists()  # no SQLite run storage
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs()
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]
