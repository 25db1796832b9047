"""How dbt nodes become Dagster assets, from the dbt project's own structure, whatever its
schema macro does:

- a model's key is its first folder under `models/` and its name (`models/marts/orders.sql`
  and `models/marts/daily/orders.sql` → `marts/orders`), its group that folder (`marts`); a
  model at the top of `models/` keeps its bare name in the default group. `meta.dagster`'s
  `asset_key` and `group` still win;
- a source is the dlt asset that loads its table (`schema` and `identifier`, matched by
  `transform/loaded_tables.py`); `meta.dagster.asset_key` still wins, and a source that no
  dlt asset loads stops the definitions with a message naming both sides;
- what a model declares in `meta.dagster` (`transform/model_meta.py`): freshness, row counts;
- the daily partitions on dbt's microbatch models (`batch_size: day`, transform/microbatch.py),
  and, as a fallback for models that cannot be microbatch, on those tagged `partitioned`.
"""

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from core.partitions import daily_partitions
from transform import model_meta
from transform.loaded_tables import LoadedTables, UnmatchedSourceError
from transform.microbatch import checked_microbatch, microbatch_of

# The dbt tag of the models built one window of days at a time, the fallback for models that
# cannot be microbatch (README, "Bring your own dbt project").
PARTITIONED_TAG = "partitioned"
MODEL_LIKE = ("model", "seed", "snapshot")


class WarehouseTranslator(DagsterDbtTranslator):
    """Keys and groups from folders, sources from the dlt assets that load them.

    `loaded_tables` is called once, on the first source translated (not at import), so the
    dlt assets' specs are read only when the dbt assets are built."""

    def __init__(self, loaded_tables: Callable[[], LoadedTables]) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                # raw.orders and its child table raw.orders__items are one dlt asset.
                enable_asset_checks=True,
                enable_duplicate_source_asset_keys=True,
            )
        )
        self._loaded_tables = loaded_tables

    @cached_property
    def loaded(self) -> LoadedTables:
        return self._loaded_tables()

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        """Daily partitions for microbatch models (and those tagged `partitioned`), none for the
        rest: one `@dbt_assets` then holds both, so a run starts dbt once. What the model
        declares in `meta.dagster` goes on its spec."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if node.get("resource_type") not in MODEL_LIKE:
            return spec
        spec = model_meta.apply_declarations(spec, node)
        batch = microbatch_of(node)
        if batch is not None:
            # Raises, naming the model and the fix, for batches the platform cannot drive.
            checked_microbatch(batch, daily_partitions.start.date())
            return spec.replace_attributes(partitions_def=daily_partitions)
        if node.get("resource_type") == "model" and PARTITIONED_TAG in node.get("tags", []):
            spec = spec.replace_attributes(partitions_def=daily_partitions)
        return spec

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        props = dbt_resource_props
        declared = model_meta.dagster_meta(props).get("asset_key")
        if props["resource_type"] == "source" and not declared:
            return self._source_key(props)
        key = super().get_asset_key(props)
        folder = first_folder(props)
        if props["resource_type"] in MODEL_LIKE and not declared and folder:
            return dg.AssetKey([folder, key.path[-1]])
        return key

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        declared = super().get_group_name(dbt_resource_props)
        if dbt_resource_props["resource_type"] in MODEL_LIKE and declared is None:
            return first_folder(dbt_resource_props)
        return declared

    def _source_key(self, props: Mapping[str, Any]) -> dg.AssetKey:
        schema, table = props["schema"], props.get("identifier") or props["name"]
        key = self.loaded.asset_for(schema, table)
        if key is None:
            raise UnmatchedSourceError(
                f"The dbt source `{props['source_name']}.{props['name']}` reads the table "
                f"{schema}.{table}, which no dlt asset loads. The dlt assets load: "
                f"{self.loaded.describe()}. Point the source at one of them (`schema:` and "
                f"`identifier:` in {props.get('original_file_path', 'its .yml')}), or name its "
                "asset with `meta: {dagster: {asset_key: [...]}}`."
            )
        return key


def first_folder(props: Mapping[str, Any]) -> str | None:
    """The node's first folder under its resource path (`marts` for `marts/daily/orders.sql`),
    or None for a file at the top."""
    parts = PurePosixPath(props.get("path") or "").parts
    return parts[0] if len(parts) > 1 else None
