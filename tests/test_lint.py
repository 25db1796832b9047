"""`make lint`'s SQL part understands dbt: with the project's sqlfluff config, ordinary dbt code
(dbt's own cross-database macros, adapter dispatch, a macro from a package `dbt deps` installed)
lints without templating errors, and a real style violation is still reported."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dbt_copies import PROJECT_ROOT, add_package_model, copy_dbt_project, write_local_package

BIN = Path(sys.executable).parent
SHOUTING_MODEL = "SELECT order_id FROM {{ ref('stg_orders') }}\n"


@pytest.fixture(scope="module")
def lint_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """sqlfluff's violations per file (relative to the copy), over a copy of the repository's
    lint config and dbt project with a package model and a badly styled model added."""
    root = tmp_path_factory.mktemp("lint")
    for config in (".sqlfluff", ".sqlfluffignore"):
        shutil.copy(PROJECT_ROOT / config, root / config)
    dbt_dir = copy_dbt_project(root)
    write_local_package(root)
    (dbt_dir / "packages.yml").write_text("packages:\n  - local: ../packages/shop_utils\n")
    env = {key: value for key, value in os.environ.items() if key != "DUCKDB_PATH"}
    deps = subprocess.run(
        [BIN / "dbt", "deps", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deps.returncode == 0, (deps.stdout + deps.stderr)[-3000:]
    add_package_model(dbt_dir)
    (dbt_dir / "models" / "extra" / "shouting.sql").write_text(SHOUTING_MODEL)

    linted = subprocess.run(
        [BIN / "sqlfluff", "lint", "dbt_project", "--format", "json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert linted.returncode in (0, 1), (linted.stdout + linted.stderr)[-3000:]
    # Linting compiled against the in-memory target: no warehouse file appeared.
    assert not (root / "data").exists()
    return {
        os.path.relpath(root / result["filepath"], root): result["violations"]
        for result in json.loads(linted.stdout)
    }


def test_dbt_macros_and_package_macros_lint_without_templating_errors(lint_results):
    assert lint_results["dbt_project/models/extra/orders_in_units.sql"] == []
    templating = {
        path: [v for v in violations if v["code"] in ("TMP", "PRS")]
        for path, violations in lint_results.items()
    }
    assert {path: found for path, found in templating.items() if found} == {}


def test_the_example_models_lint_clean(lint_results):
    example = {path: v for path, v in lint_results.items() if "/extra/" not in path}
    assert "dbt_project/models/marts/daily/orders.sql" in example
    assert {path: violations for path, violations in example.items() if violations} == {}


def test_a_style_violation_is_still_reported(lint_results):
    codes = {v["code"] for v in lint_results["dbt_project/models/extra/shouting.sql"]}
    assert "CP01" in codes  # keywords must be lower case
