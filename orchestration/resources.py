"""The resources the assets run with."""

import sys
from pathlib import Path

from dagster_dlt import DagsterDltResource

from orchestration.alerts import slack_resource
from transform.project import DBT_PROJECT_DIR
from transform.resource import DbtResource

# The dbt installed beside this interpreter, so a run never depends on PATH.
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


def build_resources() -> dict:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(DBT_EXECUTABLE),
        ),
        "slack": slack_resource(),
    }
