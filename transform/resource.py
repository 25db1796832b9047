"""The dbt CLI resource, minus two start-up costs dagster-dbt pays on every run."""

import importlib.metadata
from collections.abc import Sequence
from functools import cached_property

from dagster_dbt import DbtCliResource
from packaging import version


class DbtResource(DbtCliResource):
    """`DbtCliResource` that runs dbt as a subprocess and nothing else.

    dagster-dbt, before it starts dbt, (1) runs `dbt --version` in a subprocess to learn which
    dbt it drives (2-3 s here: a whole dbt start-up), and (2) loads dbt's project, profile and
    adapter inside the Dagster process (about 4 s) solely so that `fetch_row_counts()` /
    `fetch_column_metadata()` can query the warehouse. Here dbt-core is a locked dependency
    of this very environment, so its version is read from the package metadata; and this
    project records row counts itself and takes column schemas from the manifest, so the
    adapter is skipped (dagster-dbt handles `adapter=None` on its own).
    Figures: docs/benchmarks.md.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]):
        return None
