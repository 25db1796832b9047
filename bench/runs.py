"""A fresh warehouse and instance for every measured run, and the two ways to fill them.

Each run gets its own temp dir: a new DuckDB file, a new DAGSTER_HOME (with the shipped
dagster.yaml), its own dlt pipelines dir, dbt target dir and TMPDIR. Nothing carries over from
one run to the next, so the order of runs cannot favour either side.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.processes import DAGSTER, DBT, PYTHON, ROOT, Sample, run_measured

DEFINITIONS = "orchestration.definitions"
# The name of the Dagster step that runs dbt (`transform/assets.py`), its target folder's name.
DBT_STEP = "dbt_models"


@dataclass(frozen=True)
class Run:
    """The directories and environment of one measured run."""

    dir: Path
    env: dict[str, str]

    @property
    def warehouse(self) -> Path:
        return Path(self.env["DUCKDB_PATH"])


@contextmanager
def fresh_run(api_url: str | None = None) -> Iterator[Run]:
    root = Path(tempfile.mkdtemp(prefix="bench-run-"))
    home, tmp, target = root / "dagster_home", root / "tmp", root / "dbt_target"
    for folder in (home, tmp, target):
        folder.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "DAGSTER_HOME": str(home),
        "DLT_DATA_DIR": str(root / "dlt"),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(root / "dbt_logs"),
        "TMPDIR": str(tmp),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if api_url:
        env["JAFFLE_API_URL"] = api_url
    try:
        yield Run(root, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def count_rows(warehouse: Path, table: str) -> int:
    """Rows in `table`, or 0 when the run did not get that far."""
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(f"select count(*) from {table}").fetchone()[0]
    except (duckdb.Error, OSError):
        return 0


def dagster_materialize(first: str, last: str) -> list[str]:
    """Every asset for the days first..last through the Dagster CLI."""
    partition = (
        ["--partition", first] if first == last else ["--partition-range", f"{first}...{last}"]
    )
    return [DAGSTER, "asset", "materialize", "-m", DEFINITIONS, "--select", "*", *partition]


def bare_commands(first: str, last: str) -> list[list[str]]:
    """The same days through dlt's and dbt's own CLIs, one after the other; dbt gets its window
    the way the Dagster step passes it (environment variables, so partial parsing holds)."""
    return [
        [PYTHON, "-m", "ingestion", "--start", first, "--end", last],
        ["env", f"DBT_MIN_DATE={first}", f"DBT_MAX_DATE={last}"]
        + [DBT, "build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
    ]


def parse_for_run(run: Run, log: Path) -> None:
    """dbt's partial-parse file for this run's own profile, outside the clock, in the bare
    `dbt build`'s target folder and in the Dagster step's (`transform/invocation.py`).

    `make setup`'s file does not do: dbt hashes the connection's values, the warehouse path
    among them, and re-parses the whole project (~4 s, "Unable to do partial parsing because
    profile has changed") when the hash differs, as it does for every fresh warehouse here. A
    user's scheduled day finds the file its warehouse's previous run left; so does each side
    here, and the day's window, read from environment variables, re-parses only the models
    that read it, on both sides alike."""
    parse = [DBT, "parse", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"]
    if not run_measured(parse, run.env, log).ok:
        raise RuntimeError(f"dbt parse failed for the bench run in {run.dir}; see {log}")
    parsed = Path(run.env["DBT_TARGET_PATH"]) / "partial_parse.msgpack"
    step_folder = run.warehouse.with_suffix(".dbt") / DBT_STEP
    step_folder.mkdir(parents=True)
    shutil.copy(parsed, step_folder / parsed.name)


def run_dagster(api_url: str, first: str, last: str, log: Path) -> Sample:
    with fresh_run(api_url) as run:
        parse_for_run(run, log)
        sample = run_measured(dagster_materialize(first, last), run.env, log)
        sample.orders = count_rows(run.warehouse, "marts.orders")
    return sample


def run_bare(api_url: str, first: str, last: str, log: Path) -> Sample:
    """Both tools in one fresh warehouse: times add up, the peak is the larger one."""
    with fresh_run(api_url) as run:
        parse_for_run(run, log)
        total = Sample(0.0, 0.0, 0)
        for args in bare_commands(first, last):
            step = run_measured(args, run.env, log)
            total.seconds += step.seconds
            total.peak_rss_mb = max(total.peak_rss_mb, step.peak_rss_mb)
            if not step.ok:
                total.returncode, total.note = step.returncode, step.note
                break
        total.orders = count_rows(run.warehouse, "marts.orders")
    return total
