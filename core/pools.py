"""Concurrency pools: a setting of the DuckDB warehouse, not of the platform.

DuckDB allows one writer process at a time, so on DuckDB every step that touches the warehouse
(dlt loads, dbt builds, checks, the dashboard) claims a slot in the `duckdb` pool, which the
shipped `dagster.yaml` limits to one slot across runs as well as within one. Postgres lets
writers work side by side: with WAREHOUSE=postgres the steps claim no pool at all.
"""

import settings

DUCKDB_POOL = "duckdb"

WAREHOUSE_POOL: str | None = DUCKDB_POOL if settings.load().single_writer else None
"""The pool of every step that touches the warehouse (None: no pool)."""
