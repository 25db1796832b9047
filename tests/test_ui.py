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


# The groups of the graph in lineage order, left to right.
LINEAGE_ORDER = ["sources", "raw", "staging", "marts", "dashboards"]


def expected_tree() -> dict[str, list[str]]:
    """Each group of the definitions with the names of its assets, as the sidebar lists them."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    tree: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        tree.setdefault(graph.get(key).group_name, []).append(key.path[-1])
    return {group: sorted(names) for group, names in tree.items()}


def sidebar_tree(page, graph_left: float) -> dict[str, list[str]]:
    """The unfolded sidebar read top to bottom: each group row followed by its asset rows."""
    rows = page.eval_on_selector_all(
        "div[title]",
        "els => els.map(e => { const b = e.getBoundingClientRect();"
        " return [e.getAttribute('title'), b.x, b.y]; })",
    )
    rows = sorted((y, x, title) for title, x, y in rows if x < graph_left)
    group_x = min(x for _, x, _ in rows)
    tree: dict[str, list[str]] = {}
    current = None
    for _, x, title in rows:
        if x == group_x:
            current = title
            tree[current] = []
        else:
            tree[current].append(title)
    return tree


def test_dagster_dev_shows_the_lineage_from_raw_to_marts(tmp_path, dagster_home, warehouse):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a loaded machine renders slower than the 5-s default
    expected = expected_tree()
    assert sorted(expected) == sorted(LINEAGE_ORDER)
    with running_dagster_dev(tmp_path, env={}) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(f"{base_url}/asset-groups", wait_until="networkidle")
        skip = page.get_by_role("button", name="Skip")
        if skip.count():  # the "join the community" dialog of a fresh instance
            skip.first.click()
        # The collapsed groups of the graph (exactly one node each), strictly left to right
        # in lineage order: equal positions, or one group missing, fail.
        lefts = []
        for group in LINEAGE_ORDER:
            node = page.locator(f'[data-tooltip="{group}"]')
            expect(node).to_have_count(1, timeout=60_000)
            expect(node).to_be_visible()
            lefts.append(node.bounding_box()["x"])
        assert all(left < right for left, right in zip(lefts, lefts[1:], strict=False)), lefts
        page.screenshot(path=str(tmp_path / "lineage_groups.png"))
        # Unfold every group in the sidebar: each group lists exactly its own assets, so a
        # mart named like a raw table is found under marts, not matched under raw.
        for group in LINEAGE_ORDER:
            label = page.locator(f'div[title="{group}"]').bounding_box()
            page.mouse.click(label["x"] - 40, label["y"] + label["height"] / 2)  # its caret
            expect(page.locator(f'div[title="{expected[group][-1]}"]').last).to_be_visible()
        assert sidebar_tree(page, graph_left=min(lefts)) == expected
        page.screenshot(path=str(tmp_path / "lineage_tree.png"))
        browser.close()
