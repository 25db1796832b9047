"""The dlt pipeline that loads into the DuckDB warehouse, and the settings that make it fast."""

from __future__ import annotations

from pathlib import Path

import dlt

RAW_DATASET = "raw"

# Parquet load files: dlt's default `insert_values` format is ~4x slower on DuckDB and holds
# gigabytes in memory on a year of orders (figures in docs/benchmarks.md).
LOADER_FILE_FORMAT = "parquet"


def make_pipeline(pipeline_name: str, duckdb_path: Path, pipelines_dir: Path | None = None):
    """A pipeline writing to `raw` in `duckdb_path`.

    Each Dagster asset gets its own `pipeline_name`: dlt must never run two pipelines with the
    same name and working directory at once.
    """
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
    )
