"""Which Dagster asset loads each warehouse table, read from the dlt assets themselves: the map
that ties a dbt source to the dlt asset writing its table, with no per-source configuration.

Each dlt asset's spec carries its dlt source and table (dagster-dlt puts them in its metadata);
the dataset is the schema part of `dagster/table_name` (`raw.orders`) or the dlt pipeline's
dataset. An asset loads its resource's table, the tables its resource writes as variants (the
orders resource's `orders__items`), and dlt's nested tables of them (`<table>__<child>`), so
a dlt source a fork adds is mapped the same way. Nothing here touches the network or the
warehouse.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg

# dagster-dlt's metadata on the specs it builds (dagster_dlt/translator.py, asset_decorator.py).
DLT_SOURCE = "dagster_dlt/source"
DLT_PIPELINE = "dagster_dlt/pipeline"
TABLE_NAME = "dagster/table_name"
# dlt names a nested table `<parent>__<child>` (its default naming convention).
NESTED_SEPARATOR = "__"


class UnmatchedSourceError(ValueError):
    """A dbt source reads a table no dlt asset loads; the message names both sides."""


@dataclass(frozen=True)
class LoadedTables:
    """`(schema, table)` → the key of the dlt asset that loads it (names in lower case, as dlt
    normalizes them and DuckDB and Postgres compare unquoted names)."""

    by_relation: Mapping[tuple[str, str], dg.AssetKey]

    def asset_for(self, schema: str, table: str) -> dg.AssetKey | None:
        """The asset loading `schema.table`, or, for a nested table, the one loading its
        parent; None when no dlt asset loads it."""
        schema, table = schema.lower(), table.lower()
        while True:
            if (schema, table) in self.by_relation:
                return self.by_relation[(schema, table)]
            parent, separator, _ = table.rpartition(NESTED_SEPARATOR)
            if not separator or not parent:
                return None
            table = parent

    def describe(self) -> str:
        """E.g. `raw.customers (raw/customers), raw.orders (raw/orders), ...`."""
        if not self.by_relation:
            return "none (no dlt asset is defined)"
        return ", ".join(
            f"{schema}.{table} ({key.to_user_string()})"
            for (schema, table), key in sorted(self.by_relation.items())
        )


def loaded_tables(assets: Iterable[dg.AssetsDefinition]) -> LoadedTables:
    """The tables each dlt asset among `assets` loads; assets that are not dlt's are skipped."""
    by_relation: dict[tuple[str, str], dg.AssetKey] = {}
    for asset in assets:
        for spec in asset.specs:
            if DLT_SOURCE not in spec.metadata:
                continue
            schema, tables = _tables_of(spec)
            for table in tables:
                by_relation[(schema.lower(), table.lower())] = spec.key
    return LoadedTables(by_relation)


def _tables_of(spec: dg.AssetSpec) -> tuple[str, list[str]]:
    schema, _, table = str(spec.metadata.get(TABLE_NAME, "")).rpartition(".")
    pipeline = spec.metadata.get(DLT_PIPELINE)
    # The pipeline's dataset when the asset was built with one; else the qualified name.
    schema = getattr(pipeline, "dataset_name", None) or schema.rpartition(".")[2]
    if not schema or not table:
        raise UnmatchedSourceError(
            f"The dlt asset {spec.key.to_user_string()} does not say which table it loads: its "
            f"spec needs `{TABLE_NAME}` as `<dataset>.<table>` (e.g. `raw.orders`), or the "
            "asset needs its dlt pipeline, so dbt sources can be matched to it."
        )
    tables = [table]
    for resource in spec.metadata[DLT_SOURCE].resources.values():
        name = resource.table_name if isinstance(resource.table_name, str) else resource.name
        if name == table:
            # Tables the resource writes besides its own (`dlt.mark.with_table_name` targets
            # declared with `apply_hints(table_name=..., create_table_variant=True)`).
            tables += list(getattr(resource, "_hints_variants", {}))
    return schema, tables
