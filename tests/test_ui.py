"""The `dagster dev` UI in a real browser shows the whole lineage: raw → staging → marts."""

import os
import shutil

import pytest

from tests.dagster_dev import running_dagster_dev

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (`apt-get install chromium`); CI installs it",
)


GROUPS = {
    "sources": ["jaffle_shop_api"],
    "raw": ["orders", "customers", "products", "stores", "supplies"],
    "staging": ["stg_orders", "stg_order_items", "stg_customers", "stg_locations"],
    "marts": ["orders", "order_items", "daily_revenue", "customers", "locations"],
    "dashboards": ["daily_revenue_chart"],
}


def test_dagster_dev_shows_the_lineage_from_raw_to_marts(tmp_path, dagster_home, warehouse):
    from playwright.sync_api import expect, sync_playwright

    with running_dagster_dev(tmp_path, env={}) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{base_url}/asset-groups", wait_until="networkidle")
        skip = page.get_by_role("button", name="Skip")
        if skip.count():  # the "join the community" dialog of a fresh instance
            skip.first.click()
        # The collapsed groups of the graph, left to right in lineage order.
        lefts = []
        for group in GROUPS:
            node = page.get_by_text(group, exact=True).last
            expect(node).to_be_visible(timeout=60_000)
            lefts.append(node.bounding_box()["x"])
        assert lefts == sorted(lefts)
        page.screenshot(path=str(tmp_path / "lineage_groups.png"))
        # Unfold every group in the sidebar: each named asset is listed under its group.
        for group, assets in GROUPS.items():
            label = page.get_by_text(group, exact=True).first.bounding_box()
            page.mouse.click(label["x"] - 40, label["y"] + label["height"] / 2)  # its caret
            for asset in assets:
                expect(page.get_by_text(asset, exact=True).first).to_be_visible()
        page.screenshot(path=str(tmp_path / "lineage_tree.png"))
        browser.close()
