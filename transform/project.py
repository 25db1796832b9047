"""Where the dbt project and its manifest live, and a clear error when the manifest is missing.

The manifest is prepared once, by `make setup` (`dbt parse`), and only read here: parsing dbt
while loading the code location would cost seconds in every Dagster process.
"""

from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

import settings

DBT_PROJECT_DIR = settings.PROJECT_ROOT / "dbt_project"
PREPARE_COMMAND = "make setup"


class ManifestMissingError(FileNotFoundError):
    """The dbt manifest has not been prepared; the message says which command prepares it."""


@cache
def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def manifest_path() -> Path:
    return require_manifest(dbt_project().manifest_path)


def require_manifest(path: Path) -> Path:
    if not path.exists():
        raise ManifestMissingError(
            f"The dbt manifest {path} does not exist. Prepare it with `{PREPARE_COMMAND}` "
            "(or `dbt parse --project-dir dbt_project --profiles-dir dbt_project`)."
        )
    return path
