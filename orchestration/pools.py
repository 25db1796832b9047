"""Concurrency pools. DuckDB allows one writer process at a time, so every step that writes
the warehouse (dlt loads, dbt builds) claims a slot in `duckdb`; the shipped
`dagster.yaml` limits every pool to one slot, across runs as well as within one."""

DUCKDB_POOL = "duckdb"
