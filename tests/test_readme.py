"""Every command the README tells a user to run is run by a test or by CI, and the tools that
guard commits (pre-commit, the CI workflow) are the ones `make lint` and `.ci/run` use."""

import ast
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tomllib
from pathlib import Path

import dagster as dg
import pytest
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

# README command -> what runs it: a test id (`tests/<file>.py::<function>`, which must exist and
# run that command: see `test_every_mapped_test_runs_its_command`), the same followed by
# `via <module>.py` when the test runs the module that runs the command (`make serve` runs
# `dagster code-server start`), `ci: <line of .ci/run>`, or `not run here: <why>` beside
# whatever checks it instead.
EXERCISED_BY = {
    "make dev": ["tests/test_recovery.py::test_make_dev_stops_on_sigterm_leaving_no_process"],
    "make test": ["ci: make test"],
    "make setup": ["ci: make lint", "ci: make test"],  # both depend on `setup` first
    "make api": ["tests/test_readme.py::test_make_api_serves_the_stand_in_on_api_port"],
    "make digest": ["tests/test_digest.py::test_make_digest_prints_it"],
    "make backfill START=2024-03-05 END=2024-03-06": [
        "tests/test_cli.py::test_cli_backfill_of_a_range_loads_what_the_api_serves",
    ],
    "make backfill START=… END=…": [
        "tests/test_recovery.py::test_a_backfill_killed_during_the_dlt_load_recovers_on_the_next_run",
        "tests/test_concurrency.py::test_two_backfills_started_together_on_a_fresh_instance_both_finish",
    ],
    "make backfill": [
        "tests/test_recovery.py::test_timeout_stops_a_backfill_waiting_on_a_pool_slot",
        "tests/test_topology.py::test_make_backfill_records_its_run_in_the_postgres_instance",
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
    'DAGSTER_HOME="$PWD/.dagster" dagster asset materialize -m orchestration.definitions '
    "--select '*' --partition-range START...END": [
        "tests/test_readme.py::test_the_raw_cli_commands_use_the_instance_make_uses via README.md",
    ],
    "dagster code-server start -m orchestration.definitions": [
        "tests/test_topology.py::"
        "test_make_serve_runs_a_backfill_launched_from_the_ui_and_stops_on_sigterm"
        " via commands/serve.py",
    ],
    "python -m ingestion": ["tests/test_cli.py::test_ingestion_cli_loads_a_range_without_dagster"],
    "python -m ingestion --start 2024-03-01 --end 2024-03-02": [
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
    path, _, name = test_id.partition(" via ")[0].partition("::")
    file = PROJECT_ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text())
    return any(
        isinstance(node, ast.FunctionDef) and node.name == name.split("[")[0] for node in tree.body
    )


# Where a test's helpers and fixtures live, besides its own module.
HELPER_MODULES = (
    "tests/processes.py",
    "tests/support.py",
    "tests/dagster_dev.py",
    "tests/postgres.py",
    "tests/conftest.py",
)
# Shell words and user paths a test does with Python instead (`shutil.copy`, a temporary home).
SHELL_WORDS = {"&&", "mkdir", "-p", "cp"}


def _definitions(path: str) -> dict[str, ast.AST]:
    """The module-level functions and constants of `path`, by name."""
    found: dict[str, ast.AST] = {}
    for node in ast.parse((PROJECT_ROOT / path).read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):  # a helper's methods, by their names
            found.update({item.name: item for item in node.body if hasattr(item, "name")})
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update({t.id: node for t in targets if isinstance(t, ast.Name)})
    return found


def _strings_run_by(path: str, name: str) -> set[str]:
    """The string literals (and f-string parts) of function `name` in `path` and of every
    module-level function, fixture or constant it names, there or in the shared helpers."""
    scope = {}
    for module in (*HELPER_MODULES, path):
        scope.update(_definitions(module))
    strings: set[str] = set()
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in scope:
            continue
        seen.add(current)
        for node in ast.walk(scope[current]):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.Name):
                todo.append(node.id)
            elif isinstance(node, ast.arg):
                todo.append(node.arg)  # a fixture, by its parameter name
            elif isinstance(node, ast.Attribute):
                todo.append(node.attr)  # a helper's method
    return strings


def _calls(path: str, name: str, function: str) -> bool:
    """Whether test `name` in `path` calls `function` itself."""
    test = _definitions(path)[name]
    return any(
        isinstance(node, ast.Call) and getattr(node.func, "id", None) == function
        for node in ast.walk(test)
    )


def _required_pieces(command: str) -> list[str]:
    """What a test's literals must hold to run `command`: its words and flags, `KEY=` of each
    parameter and every concrete value; `START`, `END`, `…` and `...` stand for any value, and
    the values of variables set before the program are the user's own."""
    pieces: list[str] = []
    program_seen = False
    for word in command.split():
        if not program_seen and re.fullmatch(r"[A-Z_]+=\S*", word):
            pieces.append(word.split("=")[0])
            continue
        program_seen = True
        word = word.strip("'\"")
        if word in SHELL_WORDS or word.startswith("~") or word == "python":
            continue  # `python` is sys.executable in a test
        if "..." in word or "…" in word:
            key = word.split("=")[0] + "=" if "=" in word else None
            pieces.append(key or "...")
        elif "=" in word:
            key, value = word.split("=", 1)
            pieces += [f"{key}=", value]
        elif "/" in word:
            pieces += [part for part in word.split("/") if part]
        else:
            pieces.append(word)
    return pieces


def _missing_pieces(command: str, strings: set[str]) -> list[str]:
    def found(piece: str) -> bool:
        if piece.endswith("=") or piece == "...":
            return any(piece in string for string in strings)
        return piece in strings or any(piece in string.split("/") for string in strings)

    return [piece for piece in _required_pieces(command) if not found(piece)]


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


def test_every_mapped_test_runs_its_command():
    """A test stands for a README command only if it runs it, arguments included: the test
    (with its fixtures and helpers) holds the command's words, flags and concrete values, or,
    with `via <module>`, runs that module, which holds them."""
    wrong = []
    for command, exercisers in EXERCISED_BY.items():
        if any(e.startswith("not run here: ") for e in exercisers):
            continue  # the tests beside it check the command's parts; they do not run it
        for exerciser in exercisers:
            if exerciser.startswith("ci: "):
                continue
            test_id, _, via = exerciser.partition(" via ")
            path, _, name = test_id.partition("::")
            strings = _strings_run_by(path, name)
            if via == "README.md":
                # The test runs the README's own line (it reads it with readme_commands).
                missing = [] if _calls(path, name, "readme_commands") else ["(no README line)"]
            elif via:
                module_strings = {
                    node.value
                    for node in ast.walk(ast.parse((PROJECT_ROOT / via).read_text()))
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                }
                missing = _missing_pieces(command, module_strings)
                if Path(via).stem not in strings:  # `make serve`, `make backfill`
                    missing.append(f"(the test does not run {via})")
            else:
                missing = _missing_pieces(command, strings)
            if missing:
                wrong.append(f"{command!r} is not what {exerciser} runs: no {missing}")
    assert wrong == []


def test_the_shape_check_tells_a_one_day_backfill_from_another_range():
    strings = {"make", "backfill", "START=", "END=", "2024-05-01", "2024-05-04"}
    assert _missing_pieces("make backfill START=… END=…", strings) == []
    assert _missing_pieces("make backfill START=2024-03-01 END=2024-03-01", strings) == [
        "2024-03-01",
        "2024-03-01",
    ]
    assert _missing_pieces("make serve", strings) == ["serve"]


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


def test_make_api_serves_the_stand_in_on_api_port(tmp_path, monkeypatch):
    monkeypatch.delenv("JAFFLE_API_URL", raising=False)  # it follows API_PORT
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


def test_the_raw_cli_commands_use_the_instance_make_uses(api_url, warehouse, tmp_path):
    """The README's hand-typed `dagster asset materialize`, typed in a project folder, records
    its run in that folder's `.dagster/`, the instance `make dev`'s UI shows, and not in a
    temporary one (what Dagster does without DAGSTER_HOME)."""
    (command,) = [c for c in readme_commands(README.read_text()) if " asset materialize " in c]
    home = tmp_path / ".dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    command = command.replace("START...END", "2024-03-05...2024-03-05")
    # The project's tools first on PATH, as in an activated .venv.
    path = f"{PROJECT_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("DAGSTER_HOME", None)  # as in a new shell
    result = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [run.status for run in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS]


def test_make_installs_uv_on_a_python_that_refuses_user_installs(tmp_path):
    """On Debian's own Python (PEP 668: `pip install --user` is refused), a machine without uv
    gets one in the project's private venv (TOOLS, `.tools/` by default)."""
    system_python = Path("/usr/bin/python3")
    if not system_python.exists() or not list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED")):
        pytest.skip("no externally-managed system Python here")
    tools = tmp_path / ".tools"
    make = ["make", "--no-print-directory", f"TOOLS={tools}"]
    # No uv on PATH nor in ~/.local/bin; python3 is the system's.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # The uv the Makefile would run, made as `make setup` makes it.
    where = subprocess.run(
        [*make, "--eval", "where-uv: ; @echo $(UV)", "where-uv"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    uv = where.stdout.strip()
    result = subprocess.run(
        [*make, uv], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("uv ")
    assert Path(uv) == tools / "bin" / "uv"
