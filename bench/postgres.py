"""Item `postgres`: what the production path costs or saves, in a throwaway cluster.

- The instance: the long backfill with the Dagster instance on Postgres (deploy/dagster.yaml)
  against SQLite (the shipped dagster.yaml), both into DuckDB. SQLite commits each event to a
  file with a connection per query; the profile put most of a year's bookkeeping there.
- The warehouse: the short backfill with WAREHOUSE=postgres through Dagster against the bare
  dlt + dbt CLIs into the same kind of warehouse, i.e. the orchestration tax on Postgres.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import uuid

from bench.measures import Plan, days, interleave, progress
from bench.processes import PYTHON, ROOT, Sample, run_measured
from bench.runs import bare_commands, count_rows, dagster_materialize, fresh_run
from commands.serve import EVENT_BATCH_SIZE, EVENT_BATCH_SIZE_VAR


def postgres(plan: Plan) -> dict:
    from tests.postgres import throwaway_cluster

    url = plan.api(1)
    with throwaway_cluster() as cluster:
        progress(f"postgres: throwaway cluster on {cluster.host}:{cluster.port}")
        long_first, long_last = plan.long
        instance = interleave(
            f"instance-{days(*plan.long)}d",
            {
                "sqlite": functools.partial(_on_instance, cluster, url, plan.long, "sqlite"),
                "postgres": functools.partial(_on_instance, cluster, url, plan.long, "postgres"),
            },
            plan.repeat,
            plan.logs,
        )
        warehouse = interleave(
            f"postgres-warehouse-{days(*plan.short)}d",
            {
                "dagster": functools.partial(_on_warehouse, cluster, url, plan.short, "dagster"),
                "bare": functools.partial(_on_warehouse, cluster, url, plan.short, "bare"),
            },
            plan.repeat,
            plan.logs,
        )
    return {
        "instance": {"first": long_first, "last": long_last, "days": days(*plan.long), **instance},
        "warehouse": {
            "first": plan.short[0],
            "last": plan.short[1],
            "days": days(*plan.short),
            "scale": 1,
            **warehouse,
        },
    }


@contextlib.contextmanager
def _database(cluster, prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    settings = cluster.create_database(name)
    try:
        yield settings
    finally:
        cluster.drop_database(name)


def _on_instance(cluster, url: str, span: tuple[str, str], kind: str, log) -> Sample:
    """The range through the Dagster CLI with the instance on `kind` (storage made beforehand,
    outside the timing, as `make setup` does)."""
    with _database(cluster, "dagster") as database, fresh_run(url) as run:
        env = run.env
        if kind == "postgres":
            home = env["DAGSTER_HOME"]
            shutil.copy(ROOT / "deploy" / "dagster.yaml", f"{home}/dagster.yaml")
            env.update(database.dagster_env())
            # As `make serve` and deploy/ run it (commands/serve.py).
            env.setdefault(EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE)
        prepared = run_measured([PYTHON, "-m", "commands.instance"], env, log)
        if not prepared.ok:
            return prepared
        sample = run_measured(dagster_materialize(*span), env, log)
        sample.orders = count_rows(run.warehouse, "marts.orders")
    return sample


def _on_warehouse(cluster, url: str, span: tuple[str, str], side: str, log) -> Sample:
    """The range into a fresh Postgres warehouse, through Dagster or through dlt + dbt."""
    with _database(cluster, "warehouse") as database, fresh_run(url) as run:
        env = {**run.env, "WAREHOUSE": "postgres", **database.libpq_env()}
        if side == "dagster":
            prepared = run_measured([PYTHON, "-m", "commands.instance"], env, log)
            if not prepared.ok:
                return prepared
            sample = run_measured(dagster_materialize(*span), env, log)
        else:
            sample = Sample(0.0, 0.0, 0)
            for args in bare_commands(*span):
                step = run_measured(args, env, log)
                sample.seconds += step.seconds
                sample.peak_rss_mb = max(sample.peak_rss_mb, step.peak_rss_mb)
                if not step.ok:
                    sample.returncode, sample.note = step.returncode, step.note
                    break
        with contextlib.closing(database.connect()) as con, con.cursor() as cur:
            try:
                cur.execute("select count(*) from marts.orders")
                sample.orders = cur.fetchone()[0]
            except Exception:  # the run did not get that far
                sample.orders = 0
    return sample
