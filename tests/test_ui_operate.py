"""A person's path through `make dev` in a real browser: an asset's partitions, checks and
freshness; a backfill launched with the UI's own buttons; the run it made; and a failed run
re-executed from failure once the API is back.

Screenshots go to the test's temporary folder; with `SAVE_UI_SCREENSHOTS=1` they refresh the
pictures in docs/ instead (the README shows them).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
import requests
import uvicorn

from tests.dagster_dev import free_port, location_loaded
from tests.processes import kill_tree, start_make, wait_for
from tests.support import fetch_all, query

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
BACKFILL_DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
FAULT_DAY = "2024-03-04"
ORDERS_MART = 'key:"marts/orders"'


class OrdersOutage:
    """The stand-in API, whose `/orders` answers 503 while `down` is set: one endpoint of a real
    API failing while the rest (stores, customers, products) keeps answering."""

    def __init__(self, app):
        self.app = app
        self.down = threading.Event()
        self.refused = 0

    async def __call__(self, scope, receive, send):
        if self.down.is_set() and scope["type"] == "http" and "/orders" in scope["path"]:
            self.refused += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"orders are down"})
            return
        await self.app(scope, receive, send)


@contextlib.contextmanager
def api_with_orders_outage() -> Iterator[tuple[str, OrdersOutage]]:
    """The jaffle-shop stand-in on a free loopback port, with its orders outage switch."""
    from jaffle_api.app import API_PREFIX, create_app

    app = OrdersOutage(create_app())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    root = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{root}/health"), 30, "the stand-in API")
        yield root + API_PREFIX, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=2).ok
    return False


@contextlib.contextmanager
def running_make_dev(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """`make dev` in its own session; yields the UI's URL once the code location loaded."""
    log = tmp_path / "make_dev.log"
    process = start_make(["dev"], env, log)
    base_url = f"http://127.0.0.1:{env['DAGSTER_PORT']}"
    try:
        deadline = time.monotonic() + 300
        while not location_loaded(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"make dev did not load the code location:\n{log.read_text()}")
            time.sleep(1)
        yield base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        kill_tree(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def screenshot(page, tmp_path: Path, name: str) -> None:
    folder = PROJECT_ROOT / "docs" if os.environ.get("SAVE_UI_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(folder / name))


def runs(home: Path) -> list[dg.DagsterRun]:
    """The runs that materialize assets (not the API observations the schedule starts)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [run for run in instance.get_runs() if run.asset_selection]


def finished_runs(home: Path, known: set[str], count: int) -> list[dg.DagsterRun] | None:
    """The runs not in `known`, once there are at least `count` and none is still going."""
    new = [run for run in runs(home) if run.run_id not in known]
    if len(new) >= count and all(run.is_finished for run in new):
        return new
    return None


def steps(home: Path, run_id: str, event: dg.DagsterEventType) -> set[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_records_for_run(run_id, of_type=event).records
        return {record.event_log_entry.step_key for record in records}


def open_lineage(page, base_url: str, selection: str | None = None) -> None:
    """The global asset lineage, filtered by typing `selection` in its search box."""
    page.goto(f"{base_url}/asset-groups")
    page.get_by_role("button", name=re.compile(r"Materialize all")).wait_for(timeout=120_000)
    skip = page.get_by_role("button", name="Skip")
    if skip.count():  # the "join the community" dialog, should an instance config not hide it
        skip.first.click()
    if selection:
        page.locator(".CodeMirror").first.click()
        page.keyboard.type(selection)
        page.keyboard.press("Enter")


def choose_partitions(page, text: str):
    """In the open launch dialog: all partitions shown, then `text` typed as the selection."""
    from playwright.sync_api import expect

    dialog = page.get_by_role("dialog").filter(has_text="Launch runs")
    selection = dialog.get_by_role("textbox").first  # the partition selection
    expect(selection).to_be_visible(timeout=120_000)
    show_all = dialog.get_by_role("button", name="Show all partitions")
    if show_all.count():  # only the last 90 days are offered at first
        show_all.click()
    selection.fill(text)
    selection.press("Enter")
    return dialog


def test_a_person_backfills_inspects_and_recovers_in_the_ui(tmp_path: Path):
    if CHROMIUM is None:
        pytest.fail("the UI tests need Debian's chromium: `apt-get install -y chromium`")
    from playwright.sync_api import expect, sync_playwright

    # A loaded machine renders a page slower than Playwright's 5-s default: every assertion may
    # wait up to a minute (a passing one returns as soon as it holds).
    expect.set_options(timeout=60_000)
    home = tmp_path / "dagster_home"
    warehouse = tmp_path / "warehouse.duckdb"
    with api_with_orders_outage() as (api_url, api):
        env = {
            "DAGSTER_HOME": str(home),
            "DUCKDB_PATH": str(warehouse),
            # make dev's API address: the outage stand-in already listens there.
            "API_PORT": str(urlsplit(api_url).port),
            "DAGSTER_PORT": str(free_port()),
            "JAFFLE_API_URL": api_url,
            "TMPDIR": str(tmp_path),
            # A failing orders endpoint fails its step within seconds, not minutes.
            "STEP_RETRY_DELAY_S": "1",
            "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
            "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.2",
        }
        with running_make_dev(tmp_path, env) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)

            # 1. The asset: its partitions, checks and freshness policy.
            page.goto(f"{base_url}/assets/marts/orders")
            expect(page.get_by_role("tab", name="Partitions")).to_be_visible(timeout=120_000)
            expect(page.get_by_text("Fails if more than 26 hours").first).to_be_visible()
            page.get_by_role("tab", name="Partitions").click()
            expect(page.get_by_text(re.compile(r"Missing \(\d[\d,]*\)")).first).to_be_visible()
            page.get_by_role("tab", name="Checks").click()
            for check in ["orders_reconcile_with_raw", "unique_orders_order_id"]:
                expect(page.get_by_text(check).first).to_be_visible()

            # 2. Backfill three days of marts/orders and everything upstream of it.
            open_lineage(page, base_url)
            expect(page.locator('[data-tooltip="marts"]')).to_be_visible()
            screenshot(page, tmp_path, "ui-lineage.png")
            open_lineage(page, base_url, f"+{ORDERS_MART}")
            materialize = page.get_by_role("button", name=re.compile(r"Materialize all \(4\)"))
            expect(materialize).to_be_visible()
            materialize.click()
            dialog = choose_partitions(page, f"[{BACKFILL_DAYS[0]}...{BACKFILL_DAYS[-1]}]")
            expect(dialog.get_by_text("3 partitions")).to_be_visible()
            screenshot(page, tmp_path, "ui-backfill-dialog.png")
            known = {run.run_id for run in runs(home)}
            dialog.get_by_role("button", name=re.compile(r"Launch (backfill|1 run)")).click()
            expect(dialog).to_be_hidden()
            backfill_runs = wait_for(
                lambda: finished_runs(home, known, 1), 900, "the backfill's runs", poll_s=3
            )
            assert len(backfill_runs) == 1, [run.tags for run in backfill_runs]
            (run,) = backfill_runs
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["dagster/asset_partition_range_start"] == BACKFILL_DAYS[0]
            assert run.tags["dagster/asset_partition_range_end"] == BACKFILL_DAYS[-1]
            days = query(warehouse, "select distinct order_date::varchar from marts.orders")
            assert sorted(day for (day,) in days) == BACKFILL_DAYS
            expected = fetch_all(
                api_url, "orders", start_date=BACKFILL_DAYS[0], end_date=BACKFILL_DAYS[-1]
            )
            assert query(warehouse, "select count(*) from marts.orders") == [(len(expected),)]

            # 3. The run: its steps and check results; the row count of what it built.
            page.goto(f"{base_url}/runs/{run.run_id}")
            for step in ["raw_orders", "dbt_models"]:
                expect(page.get_by_text(step).first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("orders_reconcile_with_raw").first).to_be_attached()
            screenshot(page, tmp_path, "ui-run.png")
            page.goto(
                f"{base_url}/assets/marts/orders?view=partitions&partition={BACKFILL_DAYS[1]}"
            )
            expect(
                page.get_by_text(re.compile("dagster/row_count|Row count")).first
            ).to_be_visible()

            # 4. The orders endpoint fails: a run of every asset for one day fails in raw_orders.
            api.down.set()
            known = {run.run_id for run in runs(home)}
            open_lineage(page, base_url)
            page.get_by_role("button", name=re.compile(r"Materialize all")).click()
            dialog = choose_partitions(page, FAULT_DAY)
            dialog.get_by_role("button", name="Launch 1 run").click()
            expect(dialog).to_be_hidden()
            (failed,) = wait_for(lambda: finished_runs(home, known, 1), 600, "the failing run")
            assert failed.status == dg.DagsterRunStatus.FAILURE
            assert api.refused > 0
            assert steps(home, failed.run_id, dg.DagsterEventType.STEP_FAILURE) == {"raw_orders"}
            succeeded = steps(home, failed.run_id, dg.DagsterEventType.STEP_SUCCESS)
            assert succeeded, "the steps that do not read orders succeed"

            # The API is back: re-execute from failure with the run page's own buttons.
            api.down.clear()
            known = {run.run_id for run in runs(home)}
            page.goto(f"{base_url}/runs/{failed.run_id}")
            reexecute = page.get_by_role("button", name=re.compile(r"Re-execute all"))
            expect(reexecute).to_be_visible(timeout=120_000)
            reexecute.locator("xpath=..").locator("[aria-haspopup] button").click()  # its caret
            screenshot(page, tmp_path, "ui-reexecute-menu.png")
            page.get_by_role("menuitem", name=re.compile(r"from failure", re.IGNORECASE)).click()
            (retry,) = wait_for(lambda: finished_runs(home, known, 1), 600, "the re-execution")
            assert retry.status == dg.DagsterRunStatus.SUCCESS
            assert retry.parent_run_id == failed.run_id
            rerun = steps(home, retry.run_id, dg.DagsterEventType.STEP_START)
            assert "raw_orders" in rerun
            assert not rerun & succeeded, "steps that succeeded are not run again"
            assert query(
                warehouse, f"select count(*) from marts.orders where order_date = '{FAULT_DAY}'"
            ) == [(len(fetch_all(api_url, "orders", start_date=FAULT_DAY, end_date=FAULT_DAY)),)]
            browser.close()
