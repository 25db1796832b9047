"""Every command the README tells a user to run is run by a test or by CI, and the tools that
guard commits (pre-commit, the CI workflow) are the ones `make lint` and `.ci/run` use."""

import ast
import contextlib
import os
import re
import signal
import tomllib
from pathlib import Path

import requests
import yaml

from tests.dagster_dev import free_port
from tests.processes import start_make, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[1]
README = PROJECT_ROOT / "README.md"
CI_RUN = PROJECT_ROOT / ".ci" / "run"
WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
PRE_COMMIT = PROJECT_ROOT / ".pre-commit-config.yaml"

SHELL_FENCES = {"bash", "sh", "shell", "console"}
# Inline code spans that are commands a user types: a tool and its arguments (not a bare tool
# name such as `dg`, nor what dbt or Dagster run inside a step, such as `dbt retry`).
INLINE_COMMAND = re.compile(r"^(make|dg|dagster|python -m|uv|pre-commit)\s+\S")

# README command -> what runs it: a test id (`tests/<file>.py::<function>`, which must exist),
# `ci: <line of .ci/run>`, or `not run here: <why>` beside whatever checks it instead.
EXERCISED_BY = {
    "make dev": ["tests/test_recovery.py::test_make_dev_stops_on_sigterm_leaving_no_process"],
    "make test": ["ci: make test"],
    "make setup": ["ci: make lint", "ci: make test"],  # both depend on `setup` first
    "make api": ["tests/test_readme.py::test_make_api_serves_the_stand_in_on_api_port"],
    "make digest": ["tests/test_digest.py::test_make_digest_prints_it"],
    "make backfill START=2024-03-01 END=2024-03-07": [
        "tests/test_recovery.py::test_a_backfill_killed_during_dbt_does_not_wedge_the_next_one",
        "tests/test_concurrency.py::test_two_backfills_started_together_on_a_fresh_instance_both_finish",
    ],
    "make backfill START=… END=…": [
        "tests/test_recovery.py::test_a_backfill_killed_during_the_dlt_load_recovers_on_the_next_run",
    ],
    "make backfill": [
        "tests/test_recovery.py::test_timeout_stops_a_backfill_waiting_on_a_pool_slot",
        "tests/test_topology.py::test_make_backfill_records_its_run_in_the_postgres_instance",
    ],
    "make backfill START=2024-03-01 END=2024-03-01": [
        "tests/test_recovery.py::test_a_backfill_killed_during_dbt_does_not_wedge_the_next_one",
    ],
    "make serve": [
        "tests/test_topology.py::test_make_serve_runs_a_backfill_launched_from_the_ui_and_stops_on_sigterm",
    ],
    "make lint": ["ci: make lint"],
    "make format": [
        "not run here: it rewrites the tree in place; `make lint` (CI) runs the same ruff and "
        "sqlfluff rules as checks, so a formatted tree is what CI enforces",
    ],
    "make bench": [
        "not run here: minutes of benchmarks at up to 16x volume, too slow for the suite; "
        "docs/benchmarks.md is its committed output",
    ],
    "make defs": ["tests/test_cli.py::test_make_defs_lists_every_asset_in_100_columns"],
    "make clean": [
        "tests/test_portable.py::test_make_clean_in_the_copy_keeps_only_the_instance_config"
    ],
    "dagster dev": ["tests/test_ui.py::test_dagster_dev_shows_the_lineage_from_raw_to_marts"],
    "dagster asset materialize -m orchestration.definitions --select '*' --partition-range "
    "START...END": ["tests/test_cli.py::test_cli_backfill_of_a_range_loads_what_the_api_serves"],
    "dagster code-server start -m orchestration.definitions": [
        "tests/test_topology.py::test_make_serve_runs_a_backfill_launched_from_the_ui_and_stops_on_sigterm",
    ],
    "python -m ingestion": ["tests/test_cli.py::test_ingestion_cli_loads_a_range_without_dagster"],
    "python -m ingestion --start 2024-03-01 --end 2024-03-07": [
        "tests/test_cli.py::test_ingestion_cli_loads_a_range_without_dagster",
    ],
    "dg check defs": ["tests/test_dg.py::test_dg_check_defs_loads_the_definitions"],
    "dg list defs": ["tests/test_dg.py::test_dg_list_defs_lists_the_whole_asset_graph"],
    "dg dev": [
        "tests/test_dg.py::test_dg_dev_loads_the_code_location_and_stops_leaving_no_process"
    ],
    "dg launch --assets '*' --partition-range START...END": [
        "tests/test_dg.py::test_dg_launch_of_a_partition_range_loads_what_the_api_serves",
    ],
    "mkdir -p ~/dagster-prod && cp deploy/dagster.yaml ~/dagster-prod/": [
        # Its `served` fixture makes a fresh DAGSTER_HOME holding deploy/dagster.yaml.
        "tests/test_topology.py::test_make_serve_runs_a_backfill_launched_from_the_ui_and_stops_on_sigterm",
    ],
    "DAGSTER_HOME=~/dagster-prod DAGSTER_PG_HOST=... DAGSTER_PG_PORT=5432 "
    "DAGSTER_PG_USERNAME=dagster DAGSTER_PG_PASSWORD=... DAGSTER_PG_DB=dagster make serve": [
        "tests/test_topology.py::test_make_serve_runs_a_backfill_launched_from_the_ui_and_stops_on_sigterm",
    ],
    "uv sync --frozen": [
        "not run here: it is the image's install step (deploy/Dockerfile), and no container "
        "builds on this machine; `make setup` runs the same `uv sync --frozen` (CI)",
        "tests/test_deploy.py::test_the_image_installs_the_lock_prepares_the_manifest_and_runs_as_a_user",
    ],
}


def _shell_commands(lines: list[str]) -> list[str]:
    """The commands of a shell block: continuations joined, comments and blank lines dropped."""
    commands, current = [], ""
    for line in lines:
        line = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            commands.append(" ".join(current.split()))
        current = ""
    return commands


def readme_commands(text: str) -> set[str]:
    """Every command in a shell code block of the README, and every inline command span."""
    commands: set[str] = set()
    prose: list[str] = []
    fence, block = None, []
    for line in text.splitlines():
        opening = re.match(r"^\s*```(\w*)\s*$", line)
        if opening and fence is None:
            fence, block = opening.group(1), []
        elif opening:
            if fence in SHELL_FENCES:
                commands.update(_shell_commands(block))
            fence = None
        elif fence is not None:
            block.append(line)
        else:
            prose.append(line)
    # Spans may wrap across lines: join the prose first.
    for span in re.findall(r"`([^`]+)`", " ".join(prose)):
        span = " ".join(span.split())
        if INLINE_COMMAND.match(span):
            commands.add(span)
    return commands


def _test_exists(test_id: str) -> bool:
    path, _, name = test_id.partition("::")
    file = PROJECT_ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text())
    return any(
        isinstance(node, ast.FunctionDef) and node.name == name.split("[")[0] for node in tree.body
    )


def test_the_command_extraction_sees_blocks_continuations_and_wrapped_spans():
    text = (
        "Run `make backfill START=1\n  END=2` or `dbt retry`.\n\n"
        "   ```bash\n   a --x \\\n     --y  # note\n   # only a comment\n   b\n   ```\n"
        "```\nnot shell\n```\n"
    )
    assert readme_commands(text) == {"make backfill START=1 END=2", "a --x --y", "b"}


def test_every_readme_command_is_exercised_by_a_test_or_ci():
    commands = readme_commands(README.read_text())
    unmapped = sorted(commands - EXERCISED_BY.keys())
    assert unmapped == [], f"README commands with no test or CI step in EXERCISED_BY: {unmapped}"
    # Entries for commands the README no longer has would make the mapping look fuller than it is.
    stale = sorted(EXERCISED_BY.keys() - commands)
    assert stale == [], f"EXERCISED_BY names commands the README no longer has: {stale}"


def test_every_test_and_ci_step_the_mapping_names_exists():
    ci_lines = {line.strip() for line in CI_RUN.read_text().splitlines()}
    missing = []
    for command, exercisers in EXERCISED_BY.items():
        assert exercisers, command
        assert any(not e.startswith("not run here:") for e in exercisers) or len(exercisers) == 1
        for exerciser in exercisers:
            if exerciser.startswith("ci: "):
                ok = exerciser.removeprefix("ci: ") in ci_lines
            elif exerciser.startswith("not run here: "):
                ok = len(exerciser) > len("not run here: ") + 20  # a reason, not a shrug
            else:
                ok = _test_exists(exerciser)
            if not ok:
                missing.append(f"{command!r}: {exerciser}")
    assert missing == []


def test_the_ci_workflow_runs_ci_run_on_push_and_pull_requests():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers)
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["timeout-minutes"] == 30
    steps = job["steps"]
    setup_uv = next(s for s in steps if s.get("uses", "").startswith("astral-sh/setup-uv@"))
    assert setup_uv["with"]["python-version"] == "3.11"
    assert setup_uv["with"]["enable-cache"] is True
    assert setup_uv["with"]["cache-dependency-glob"] == "uv.lock"
    assert [s["run"] for s in steps if "run" in s] == [".ci/run"]
    assert os.access(CI_RUN, os.X_OK)


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def test_pre_commit_hooks_pin_the_versions_make_lint_uses():
    locked = _locked_versions()
    repos = {repo["repo"]: repo for repo in yaml.safe_load(PRE_COMMIT.read_text())["repos"]}
    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    sqlfluff = repos["https://github.com/sqlfluff/sqlfluff"]
    secrets = repos["https://github.com/Yelp/detect-secrets"]
    assert ruff["rev"] == f"v{locked['ruff']}"
    assert sqlfluff["rev"] == locked["sqlfluff"]
    assert secrets["rev"] == f"v{locked['detect-secrets']}"
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}
    (lint,) = sqlfluff["hooks"]
    assert lint["id"] == "sqlfluff-lint"
    assert re.search(lint["files"], "dbt_project/models/marts/orders.sql")
    assert re.search(lint["files"], "dbt_project/macros/x.sql")
    assert not re.search(lint["files"], "dbt_project/target/compiled/x.sql")
    (scan,) = secrets["hooks"]
    assert scan["args"] == ["--baseline", ".secrets.baseline"]
    assert (PROJECT_ROOT / ".secrets.baseline").is_file()
    # sqlfluff's dbt templater compiles with dbt: the hook's environment holds the same dbt.
    assert re.search(r"^templater\s*=\s*dbt\s*$", (PROJECT_ROOT / ".sqlfluff").read_text(), re.M)
    pins = dict(pin.split("==") for pin in lint["additional_dependencies"])
    templater_packages = ["sqlfluff-templater-dbt", "dbt-core", "dbt-duckdb", "duckdb"]
    assert pins == {name: locked[name] for name in templater_packages}


def test_make_api_serves_the_stand_in_on_api_port(tmp_path):
    port = free_port()
    process = start_make(["api"], {"API_PORT": str(port)}, tmp_path / "api.log")
    url = f"http://127.0.0.1:{port}/api/v1/stores"

    def serving() -> bool:
        assert process.poll() is None, (tmp_path / "api.log").read_text()[-3000:]
        with contextlib.suppress(requests.RequestException):
            return requests.get(url, timeout=2).status_code == 200
        return False

    try:
        wait_for(serving, timeout_s=180, what="make api to serve", poll_s=0.5)
        assert len(requests.get(url, timeout=5).json()) > 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
