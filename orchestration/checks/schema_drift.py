"""Schema drift in raw: a column that appears, disappears or changes type is recorded as
metadata and flagged (WARN). dlt evolves the raw schema on its own; dbt's contracts on the
marts catch what breaks, this catches what changed before it breaks anything."""

import dagster as dg

from core.pools import WAREHOUSE_POOL
from warehouse import read_only

# The columns the dbt staging models rely on, per raw table (dlt's own `_dlt_*` aside).
EXPECTED_RAW_COLUMNS: dict[str, dict[str, str]] = {
    "orders": {
        "id": "VARCHAR",
        "customer_id": "VARCHAR",
        "store_id": "VARCHAR",
        "ordered_at": "TIMESTAMP WITH TIME ZONE",
        "subtotal": "BIGINT",
        "tax_paid": "BIGINT",
        "order_total": "BIGINT",
    },
    "orders__items": {"id": "VARCHAR", "order_id": "VARCHAR", "sku": "VARCHAR"},
    "customers": {"id": "VARCHAR", "name": "VARCHAR"},
    "products": {
        "sku": "VARCHAR",
        "name": "VARCHAR",
        "type": "VARCHAR",
        "price": "BIGINT",
        "description": "VARCHAR",
    },
    "stores": {
        "id": "VARCHAR",
        "name": "VARCHAR",
        "opened_at": "TIMESTAMP WITH TIME ZONE",
        "tax_rate": "DOUBLE",
    },
    "supplies": {
        "id": "VARCHAR",
        "name": "VARCHAR",
        "cost": "BIGINT",
        "perishable": "BOOLEAN",
        "sku": "VARCHAR",
    },
}

# dlt loads a nested list into a child table of its parent's asset.
TABLES_OF_ASSET = {"orders": ["orders", "orders__items"]}


def schema_drift(expected: dict[str, str], actual: dict[str, str]) -> dict[str, list[str]]:
    """What changed from `expected` to `actual` (column → type), ignoring dlt's own columns."""
    actual = {name: kind for name, kind in actual.items() if not name.startswith("_dlt_")}
    return {
        "added": sorted(f"{c} {actual[c]}" for c in actual.keys() - expected.keys()),
        "removed": sorted(expected.keys() - actual.keys()),
        "retyped": sorted(
            f"{c}: {expected[c]} -> {actual[c]}"
            for c in expected.keys() & actual.keys()
            if expected[c] != actual[c]
        ),
    }


def _actual_columns(warehouse, table: str) -> dict[str, str]:
    rows = warehouse.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


RAW_RESOURCES = ("orders", "customers", "products", "stores", "supplies")


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "schema_unchanged",
            asset=dg.AssetKey(["raw", resource]),
            description="Columns and types of the raw table(s) match what staging expects.",
        )
        for resource in RAW_RESOURCES
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def raw_schema_unchanged(context: dg.AssetCheckExecutionContext):
    """One step for every raw table's check: five checks as five steps cost a run five step
    start-ups, pool claims and event round trips (~0.3 s each) for one catalog query each."""
    with read_only() as warehouse:
        for check_key in context.selected_asset_check_keys:
            yield _schema_check_result(warehouse, check_key)


def _schema_check_result(warehouse, check_key: dg.AssetCheckKey) -> dg.AssetCheckResult:
    resource = check_key.asset_key.path[-1]
    metadata: dict[str, object] = {}
    drifted = False
    for table in TABLES_OF_ASSET.get(resource, [resource]):
        actual = _actual_columns(warehouse, table)
        drift = schema_drift(EXPECTED_RAW_COLUMNS[table], actual)
        drifted = drifted or any(drift.values())
        metadata[f"{table}_columns"] = dg.TableSchema(
            columns=[dg.TableColumn(name, kind) for name, kind in actual.items()]
        )
        for change, columns in drift.items():
            if columns:
                metadata[f"{table}_{change}"] = ", ".join(columns)
    return dg.AssetCheckResult(
        asset_key=check_key.asset_key,
        check_name=check_key.name,
        passed=not drifted,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )
