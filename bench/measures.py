"""One function per benchmark item; each returns raw samples, never a verdict.

Compared variants run interleaved (A B, then B A, ...) in the same invocation, against the
same API, each in a fresh warehouse: drift of a noisy machine then hits both sides alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import duckdb
import requests

import settings
from bench.processes import (
    BIN,
    DAGSTER,
    PYTHON,
    Sample,
    jaffle_api,
    log_tail,
    run_measured,
    time_dagster_dev,
)
from bench.runs import (
    DEFINITIONS,
    dagster_materialize,
    fresh_run,
    parse_for_run,
    run_bare,
    run_dagster,
)

DEFAULT_VOLUME = 170  # the stand-in's JAFFLE_API_ORDERS_PER_DAY default
SCALES = (1, 4, 16)


@dataclass
class Plan:
    """What to measure and how often; `long`/`short` are (first, last) inclusive days."""

    repeat: int
    scale_repeat: int
    long: tuple[str, str]
    short: tuple[str, str]
    day: str
    logs: Path
    apis: ExitStack = field(default_factory=ExitStack)
    _urls: dict[int, str] = field(default_factory=dict)

    def api(self, scale: int = 1) -> str:
        """JAFFLE_API_URL of a stand-in at `scale` × the default volume, started once."""
        if scale not in self._urls:
            self._urls[scale] = self.apis.enter_context(
                jaffle_api(DEFAULT_VOLUME * scale, self.logs)
            )
        return self._urls[scale]


def days(first: str, last: str) -> int:
    return (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def interleave(
    label: str, variants: dict[str, Callable[[Path], Sample]], repeat: int, logs: Path
) -> dict[str, list[dict]]:
    """Run each variant `repeat` times, alternating their order round by round."""
    names = list(variants)
    samples: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else reversed(names):
            log = logs / f"{label}-{name}-{round_ + 1}.log".replace(" ", "_")
            sample = variants[name](log)
            status = "" if sample.ok else f"  FAILED: {sample.note}\n{log_tail(log, 15)}"
            progress(
                f"{label} / {name} #{round_ + 1}: {sample.seconds:.1f} s, "
                f"{sample.peak_rss_mb:.0f} MB{status}"
            )
            samples[name].append(sample.as_dict())
    return samples


def _tax_runs(plan: Plan, label: str, first: str, last: str, scale: int, repeat: int) -> dict:
    url = plan.api(scale)
    samples = interleave(
        label,
        {
            "dagster": functools.partial(run_dagster, url, first, last),
            "bare": functools.partial(run_bare, url, first, last),
        },
        repeat,
        plan.logs,
    )
    return {"first": first, "last": last, "days": days(first, last), "scale": scale, **samples}


def backfill(plan: Plan) -> dict:
    """Item 1: a range of days through `dagster asset materialize` vs dlt + dbt alone."""
    return {
        f"{days(*span)} days": _tax_runs(plan, f"backfill-{days(*span)}d", *span, 1, plan.repeat)
        for span in (plan.long, plan.short)
    }


def daily(plan: Plan) -> dict:
    """Item 2: one partition, the same two ways."""
    return _tax_runs(plan, "daily", plan.day, plan.day, 1, plan.repeat)


def load(plan: Plan) -> dict:
    """Item 3: loading the code location vs importing the libraries it is built on."""
    commands = {
        "definitions import": [PYTHON, "-c", f"import {DEFINITIONS}"],
        "definitions validate": [DAGSTER, "definitions", "validate", "-m", DEFINITIONS],
        "bare imports": [PYTHON, "-c", "import dagster, dagster_dbt, dagster_dlt, dlt"],
    }

    def measured(args: list[str], log: Path) -> Sample:
        with fresh_run() as run:
            return run_measured(args, run.env, log)

    variants = {name: functools.partial(measured, args) for name, args in commands.items()}
    return interleave("load", variants, plan.repeat, plan.logs)


EMPTY_MODULE = "bench_empty_definitions"


def dev_start(plan: Plan) -> dict:
    """Item 4: `dagster dev` until the code location is loaded, platform vs empty Definitions."""
    with tempfile.TemporaryDirectory(prefix="bench-empty-") as empty_dir:
        (Path(empty_dir) / f"{EMPTY_MODULE}.py").write_text(
            "import dagster as dg\n\ndefs = dg.Definitions()\n"
        )

        def measured(module: str, working_dir: Path | None, log: Path) -> Sample:
            with fresh_run() as run:
                return time_dagster_dev(module, run.env, log, working_dir)

        variants = {
            "platform": functools.partial(measured, DEFINITIONS, None),
            "empty": functools.partial(measured, EMPTY_MODULE, Path(empty_dir)),
        }
        return interleave("dev-start", variants, plan.repeat, plan.logs)


# --- Item 5: ingestion rate ------------------------------------------------------------------


@contextmanager
def _session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy
    try:
        yield session
    finally:
        session.close()


def fetch_orders(url: str, first: str, last: str) -> tuple[float, list[bytes], int, int]:
    """Every order of first..last page by page, following `Link: rel=next`, as a client would
    (parsing each page); (seconds, raw pages, orders, items)."""
    pages, orders, items = [], 0, 0
    params = {"start_date": first, "end_date": last, "page_size": settings.load().api_page_size}
    next_url: str | None = f"{url}/orders"
    with _session() as session:
        started = time.perf_counter()
        while next_url:
            response = session.get(next_url, params=params, timeout=60)
            response.raise_for_status()
            rows = response.json()
            orders += len(rows)
            items += sum(len(order["items"]) for order in rows)
            pages.append(response.content)
            link = response.links.get("next")
            next_url = urljoin(response.url, link["url"]) if link else None
            params = None
        return time.perf_counter() - started, pages, orders, items


def duckdb_read(pages_glob: str) -> tuple[float, int, int]:
    """DuckDB alone turning the saved pages into an orders and an items table, in a new file;
    (seconds, orders, items)."""
    with tempfile.TemporaryDirectory(prefix="bench-duckdb-") as folder:
        started = time.perf_counter()
        with duckdb.connect(os.path.join(folder, "warehouse.duckdb")) as con:
            source = f"read_json('{pages_glob}', format = 'array')"
            con.execute(f"create table orders as select * exclude (items) from {source}")
            con.execute(
                f"create table items as select unnest(items, recursive := true) from {source}"
            )
            orders = con.execute("select count(*) from orders").fetchone()[0]
            items = con.execute("select count(*) from items").fetchone()[0]
        return time.perf_counter() - started, orders, items


def _probe(url: str, first: str, last: str, log: Path) -> Sample:
    with fresh_run(url) as run:
        sample = run_measured([PYTHON, "-m", "bench.ingest_probe", first, last], run.env, log)
    result = next(
        (json.loads(line) for line in reversed(log.read_text().splitlines()) if line[:1] == "{"),
        None,
    )
    if not sample.ok or result is None or result["returncode"] != 0:
        sample.returncode = sample.returncode or 1
        return sample
    rows = result["rows"]
    sample.note = f"process wall time {sample.seconds:.1f} s; rows {rows}"
    sample.seconds = result["seconds"]
    sample.orders = rows.get("orders", 0)
    sample.rows = sum(rows.values())
    return sample


def ingestion(plan: Plan) -> dict:
    """Item 5: rows/s of the ingestion into `raw` vs DuckDB reading the same pages from files,
    and the stand-in's own serving rate."""
    first, last = plan.long
    url = plan.api(1)
    _, pages, orders, items = fetch_orders(url, first, last)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as folder:
        for number, page in enumerate(pages, 1):
            Path(folder, f"page-{number:05d}.json").write_bytes(page)

        def read(log: Path) -> Sample:
            seconds, n_orders, n_items = duckdb_read(os.path.join(folder, "*.json"))
            return Sample(seconds, 0.0, 0, orders=n_orders, rows=n_orders + n_items)

        def serve(log: Path) -> Sample:
            seconds, _, n_orders, n_items = fetch_orders(url, first, last)
            return Sample(seconds, 0.0, 0, orders=n_orders, rows=n_orders + n_items)

        samples = interleave(
            "ingestion",
            {
                "ingestion": functools.partial(_probe, url, first, last),
                "duckdb": read,
                "api": serve,
            },
            plan.repeat,
            plan.logs,
        )
    return {"first": first, "last": last, "orders": orders, "items": items, **samples}


def scale(plan: Plan, backfill_result: dict | None) -> dict:
    """Item 6: the long range at 1×, 4× and 16× the default volume, dagster and bare; the 1×
    runs of item 1 are reused when they were measured in this invocation."""
    label = f"{days(*plan.long)} days"
    result = {}
    for factor in SCALES:
        if factor == 1 and backfill_result and label in backfill_result:
            result["1"] = {**backfill_result[label], "reused_from": "backfill"}
            continue
        repeat = plan.repeat if factor == 1 else plan.scale_repeat
        result[str(factor)] = _tax_runs(plan, f"scale-{factor}x", *plan.long, factor, repeat)
    return result


def make_test(plan: Plan) -> dict:
    """Item 7: the test suite's wall time, run once."""
    sample = run_measured(["make", "test"], dict(os.environ), plan.logs / "make-test.log")
    progress(f"make test: {sample.seconds:.1f} s, exit {sample.returncode}")
    return {"runs": [sample.as_dict()]}


def profile_commands(plan: Plan) -> dict[str, list[str]]:
    """The Dagster paths profiled when a target about Dagster's overhead is missed (a year, a
    day, loading the code location), as pyinstrument's programs (`-m dagster ...` is the
    `dagster` CLI)."""
    return {
        "long": ["-m", "dagster", *dagster_materialize(*plan.long)[1:]],
        "day": ["-m", "dagster", *dagster_materialize(plan.day, plan.day)[1:]],
        "import": ["-c", f"import {DEFINITIONS}"],
    }


def profile(plan: Plan) -> dict:
    """Each of `profile_commands` once under pyinstrument, on a fresh warehouse and instance:
    where the orchestration's time goes. The session files stay with the logs."""
    result = {}
    for name, program in profile_commands(plan).items():
        session = plan.logs / f"profile-{name}.pyisession"
        with fresh_run(plan.api(1)) as run:
            parse_for_run(run, plan.logs / f"profile-{name}.log")
            # A 5 ms interval keeps the session small enough to render in seconds.
            args = [str(BIN / "pyinstrument"), "-i", "0.005", "-o", str(session)]
            args += ["-r", "pyisession", *program]
            sample = run_measured(args, run.env, plan.logs / f"profile-{name}.log")
        progress(f"profile {name}: {sample.seconds:.1f} s, exit {sample.returncode}")
        if session.exists():
            result[name] = _render_profile(session) | {
                "session": str(session),
                "seconds": sample.seconds,
                "command": shlex.join(program),
            }
    return result


def _render_profile(session: Path) -> dict[str, str]:
    """The session as two flat listings: time per function with its callees, and its own."""
    views = {"cumulative": ["-p", "flat_time=total"], "self": []}
    return {
        name: subprocess.run(
            [str(BIN / "pyinstrument"), "--load", str(session), "-r", "text", "--no-color"]
            + ["--show-all", "-p", "flat=true", *options],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for name, options in views.items()
    }
