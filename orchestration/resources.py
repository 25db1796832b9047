"""The resources the assets run with."""

from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from transform.project import DBT_PROJECT_DIR


def build_resources() -> dict:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR)),
    }
