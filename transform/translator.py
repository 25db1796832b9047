"""How dbt nodes become Dagster assets: keys read like the warehouse, `<schema>/<model>`, and
the daily partitions on the models tagged `partitioned`."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from core.partitions import daily_partitions

# The dbt tag of the models built one window of days at a time (the daily marts).
PARTITIONED_TAG = "partitioned"


class WarehouseTranslator(DagsterDbtTranslator):
    """Models get `staging/stg_orders`, `marts/orders`; sources keep dbt's `raw/<table>` (or the
    `meta.dagster.asset_key` set on them), which are the keys of the dlt assets."""

    def __init__(self) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                # raw.orders and its child table raw.orders__items are one dlt asset.
                enable_asset_checks=True,
                enable_duplicate_source_asset_keys=True,
            )
        )

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        """Daily partitions for models tagged `partitioned`, none for the rest: one
        `@dbt_assets` then holds both, so a run starts dbt once."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if node.get("resource_type") == "model" and PARTITIONED_TAG in node.get("tags", []):
            return spec.replace_attributes(partitions_def=daily_partitions)
        return spec

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["schema"]
        return super().get_group_name(dbt_resource_props)
