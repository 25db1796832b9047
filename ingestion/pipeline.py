"""The dlt pipeline that loads into the warehouse (DuckDB, or Postgres with WAREHOUSE=postgres),
and the settings that make it fast."""

from __future__ import annotations

import os
from pathlib import Path

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from settings import PostgresWarehouse

RAW_DATASET = "raw"

# Parquet load files: dlt's default `insert_values` format is ~4x slower on DuckDB and holds
# gigabytes in memory on a year of orders (figures in docs/benchmarks.md).
LOADER_FILE_FORMAT = "parquet"
# Postgres takes no parquet; dlt writes the Arrow tables as CSV and loads them with COPY.
POSTGRES_LOADER_FILE_FORMAT = "csv"

# dlt settings, set in code so that they hold whatever the working directory (dlt reads a
# `.dlt/config.toml` relative to it); an environment variable of the same name overrides one.
# Measured and left at dlt's defaults, as they did not help once orders arrive as Arrow tables
# (a year at 16x the public volume): DATA_WRITER__DISABLE_COMPRESSION (no change),
# DATA_WRITER__FILE_MAX_ITEMS (more files to load and merge: ~40% more load CPU) and
# NORMALIZE__WORKERS (parquet from Arrow passes normalize untouched; workers only add start-up).
DLT_SETTINGS = {
    # Arrow tables get no `_dlt_load_id` unless asked; the dbt sources' freshness reads it.
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
}

# DuckDB's working memory during dlt's merge. Its de-duplication of the staged rows (a window
# over the primary key) otherwise grows with the range loaded: ~1.2 GB peak for a year at 16x
# the public volume, against ~0.5 GB capped, for ~10% more time as DuckDB spills to disk.
DUCKDB_MEMORY_LIMIT = "256MB"


def apply_dlt_settings() -> None:
    for name, value in DLT_SETTINGS.items():
        os.environ.setdefault(name, value)


def loader_file_format(postgres: PostgresWarehouse | None = None) -> str:
    return LOADER_FILE_FORMAT if postgres is None else POSTGRES_LOADER_FILE_FORMAT


def make_pipeline(
    pipeline_name: str,
    duckdb_path: Path,
    pipelines_dir: Path | None = None,
    postgres: PostgresWarehouse | None = None,
):
    """A pipeline writing to `raw` in `duckdb_path`.

    Each Dagster asset gets its own `pipeline_name`: dlt must never run two pipelines with the
    same name and working directory at once. The working directory sits beside the warehouse
    (`pipelines_dir_for`), not in dlt's per-user default: what a killed run leaves behind stays
    with its warehouse, never reaching another one. Under Dagster the next run drops it
    (dagster-dlt clears the pipeline's local state first) and loads the window again, which
    the merge on keys makes idempotent (tests/test_recovery.py).
    """
    apply_dlt_settings()
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    if postgres is not None:
        # The Postgres warehouse (`postgres`, from the PG* variables) instead of the file.
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=dlt.destinations.postgres(
                credentials={
                    "drivername": "postgresql",
                    "host": postgres.host,
                    "port": postgres.port,
                    "username": postgres.user,
                    "password": postgres.password,
                    "database": postgres.database,
                }
            ),
            dataset_name=RAW_DATASET,
            pipelines_dir=str(pipelines_dir or pipelines_dir_for(duckdb_path, postgres)),
        )
    credentials = DuckDbCredentials(
        str(duckdb_path), global_config={"memory_limit": DUCKDB_MEMORY_LIMIT}
    )
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(pipelines_dir or pipelines_dir_for(duckdb_path)),
    )


def pipelines_dir_for(duckdb_path: Path, postgres: PostgresWarehouse | None = None) -> Path:
    """dlt's working directory for the warehouse: `data/warehouse.dlt/` for the default
    `data/warehouse.duckdb`; for a Postgres warehouse, one per server and database beside it."""
    if postgres is not None:
        server = f"{postgres.host}-{postgres.port}-{postgres.database}"
        return duckdb_path.parent / f"postgres-{server}.dlt"
    return duckdb_path.parent / f"{duckdb_path.stem}.dlt"
