"""`make setup` installs a dbt project's packages: `dbt deps` runs when dbt_packages/ is missing
or older than packages.yml, and not otherwise, so packages already installed need no network."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.dbt_copies import PROJECT_ROOT, add_package_model, copy_dbt_project, write_local_package

# Nothing listens there: a `dbt deps` that tried to fetch it would fail, online or not.
UNREACHABLE_GIT = "https://127.0.0.1:9/shop_utils.git"


def make_setup(dbt_dir: Path) -> tuple[int, str]:
    """`make setup` with the dbt project at `dbt_dir`; (exit code, output)."""
    env = {key: value for key, value in os.environ.items() if key != "DUCKDB_PATH"}
    done = subprocess.run(
        ["make", "--no-print-directory", "setup", f"DBT_DIR={dbt_dir}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stdout + done.stderr


def make_newer(path: Path, than: Path) -> None:
    later = than.stat().st_mtime + 5
    os.utime(path, (later, later))


def parsed_names(dbt_dir: Path) -> set[str]:
    manifest = json.loads((dbt_dir / "target" / "manifest.json").read_text())
    return set(manifest["nodes"]) | set(manifest["macros"])


def test_setup_installs_declared_packages_once_and_again_when_they_change(tmp_path):
    dbt_dir = copy_dbt_project(tmp_path)
    write_local_package(tmp_path)
    (dbt_dir / "packages.yml").write_text("packages:\n  - local: ../packages/shop_utils\n")
    add_package_model(dbt_dir)

    code, output = make_setup(dbt_dir)
    assert code == 0, output[-3000:]
    assert "dbt deps" in output
    assert (dbt_dir / "dbt_packages" / "shop_utils" / "dbt_project.yml").is_file()
    names = parsed_names(dbt_dir)
    assert {"macro.shop_utils.cents_to_units", "model.jaffle_platform.orders_in_units"} <= names

    code, output = make_setup(dbt_dir)
    assert code == 0, output[-3000:]
    assert "dbt deps" not in output and "dbt parse" not in output

    make_newer(dbt_dir / "packages.yml", than=dbt_dir / "dbt_packages")
    code, output = make_setup(dbt_dir)
    assert code == 0, output[-3000:]
    assert "dbt deps" in output


def test_installed_packages_need_no_network_and_a_failed_install_says_what_to_do(tmp_path):
    dbt_dir = copy_dbt_project(tmp_path)
    (dbt_dir / "packages.yml").write_text(
        f'packages:\n  - git: "{UNREACHABLE_GIT}"\n    revision: "1.0.0"\n'
    )
    # Installed already, as a project brought with its dbt_packages/ folder is.
    shutil.copytree(write_local_package(tmp_path), dbt_dir / "dbt_packages" / "shop_utils")
    make_newer(dbt_dir / "dbt_packages", than=dbt_dir / "packages.yml")
    add_package_model(dbt_dir)

    code, output = make_setup(dbt_dir)
    assert code == 0, output[-3000:]
    assert "dbt deps" not in output
    assert "model.jaffle_platform.orders_in_units" in parsed_names(dbt_dir)

    make_newer(dbt_dir / "packages.yml", than=dbt_dir / "dbt_packages")
    code, output = make_setup(dbt_dir)
    assert code != 0
    assert "`dbt deps` failed" in output
    assert f"touch {dbt_dir}/dbt_packages" in output
