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


def _actual_columns(table: str) -> dict[str, str]:
    with read_only() as warehouse:
        rows = warehouse.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    return dict(rows)


def _build_check(resource: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", resource]),
        name="schema_unchanged",
        pool=WAREHOUSE_POOL,
        description="Columns and types of the raw table(s) match what staging expects.",
    )
    def _check() -> dg.AssetCheckResult:
        metadata: dict[str, object] = {}
        drifted = False
        for table in TABLES_OF_ASSET.get(resource, [resource]):
            actual = _actual_columns(table)
            drift = schema_drift(EXPECTED_RAW_COLUMNS[table], actual)
            drifted = drifted or any(drift.values())
            metadata[f"{table}_columns"] = dg.TableSchema(
                columns=[dg.TableColumn(name, kind) for name, kind in actual.items()]
            )
            for change, columns in drift.items():
                if columns:
                    metadata[f"{table}_{change}"] = ", ".join(columns)
        return dg.AssetCheckResult(
            passed=not drifted, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
        )

    return _check


raw_schema_checks = [
    _build_check(resource) for resource in ("orders", "customers", "products", "stores", "supplies")
]
