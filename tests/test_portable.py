"""A fork lives in a folder of its own name: the repository copied into a folder with another
name (and a space in it) prepares its dbt manifest, loads its definitions and passes the fast
tests there, and no tracked file names the folder it was built in."""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Fast, and they load the definitions: the asset graph, dbt's manifest, the partition helpers.
FAST_TESTS = ["tests/test_lineage.py", "tests/test_windows.py"]


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [path for path in listed.split("\0") if path]


def _env_for(copy: Path) -> dict[str, str]:
    """This environment minus anything that could point back at the original tree."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "DAGSTER_HOME", "DUCKDB_PATH", "PYTEST_ADDOPTS"}
    }
    return {**env, "DO_NOT_TRACK": "1", "TMPDIR": str(copy.parent / "tmp")}


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The git-tracked files, as they are in the working tree, in `<tmp>/renamed project/`."""
    copy = tmp_path_factory.mktemp("portable") / "renamed project"
    for path in _tracked_files():
        source = PROJECT_ROOT / path
        if source.exists():  # a tracked file deleted in the working tree is not copied
            (copy / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / path, follow_symlinks=False)
    (copy.parent / "tmp").mkdir()
    parsed = subprocess.run(
        [BIN / "dbt", "parse", "--quiet", "--project-dir", "dbt_project"]
        + ["--profiles-dir", "dbt_project"],
        cwd=copy,
        env=_env_for(copy),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert parsed.returncode == 0, (parsed.stdout + parsed.stderr)[-3000:]
    yield copy
    shutil.rmtree(copy.parent, ignore_errors=True)


def test_no_tracked_file_names_the_folder_it_was_built_in():
    own_name = PROJECT_ROOT.name
    patterns = [
        re.escape(str(PROJECT_ROOT)),
        # The folder's name used as a path: `../<name>` or `/<name>/`.
        rf"(^|[\s\"'=/.])\.\./{re.escape(own_name)}\b",
        rf"/{re.escape(own_name)}/",
    ]
    found = []
    for path in _tracked_files():
        file = PROJECT_ROOT / path
        if not file.is_file():
            continue
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            continue  # images
        for number, line in enumerate(text.splitlines(), 1):
            if any(re.search(pattern, line) for pattern in patterns):
                found.append(f"{path}:{number}: {line.strip()}")
    assert found == []


def test_the_copy_loads_its_own_definitions(copy):
    loaded = subprocess.run(
        [
            BIN / "python",
            "-c",
            "import json, orchestration.definitions as d, transform.project as p; "
            "print(d.__file__); print(p.manifest_path()); print(json.dumps(sorted("
            "k.to_user_string() for k in d.defs.resolve_asset_graph().get_all_asset_keys())))",
        ],
        cwd=copy,
        env=_env_for(copy),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    module_file, manifest, asset_keys = loaded.stdout.strip().splitlines()[-3:]
    assert Path(module_file).is_relative_to(copy)
    assert Path(manifest).is_relative_to(copy) and Path(manifest).is_file()
    # The same asset graph as this checkout's, key for key.
    from orchestration.definitions import defs

    here = sorted(key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())
    assert json.loads(asset_keys) == here


def test_the_fast_tests_pass_in_the_copy(copy):
    result = subprocess.run(
        [BIN / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *FAST_TESTS],
        cwd=copy,
        env=_env_for(copy),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)


def test_make_clean_in_the_copy_keeps_only_the_instance_config(copy):
    (copy / "data").mkdir(exist_ok=True)
    (copy / "data" / "warehouse.duckdb").write_bytes(b"")
    home = copy / ".dagster"
    (home / "history").mkdir(parents=True, exist_ok=True)
    shutil.copy(copy / "dagster.yaml", home / "dagster.yaml")
    assert (copy / "dbt_project" / "target" / "manifest.json").is_file()

    result = subprocess.run(
        ["make", "--no-print-directory", "clean"],
        cwd=copy,
        env=_env_for(copy),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (copy / "data").exists()
    assert not (copy / "dbt_project" / "target").exists()
    assert [p.name for p in home.iterdir()] == ["dagster.yaml"]
    # Nothing outside the copy was touched.
    assert (PROJECT_ROOT / "dbt_project" / "target" / "manifest.json").is_file()
