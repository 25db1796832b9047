"""Helpers shared by the tests: read the API the way a client does, and read the warehouse."""

from pathlib import Path
from urllib.parse import urljoin

import duckdb
import requests


def fetch_all(base_url: str, path: str, **params) -> list[dict]:
    """Every record of an endpoint, following the API's `Link: rel="next"` pages."""
    records: list[dict] = []
    url = f"{base_url}/{path}"
    query = {"page_size": 500, **params}
    while url:
        response = requests.get(url, params=query, timeout=30)
        response.raise_for_status()
        records.extend(response.json())
        next_link = response.links.get("next", {}).get("url")
        url = urljoin(response.url, next_link) if next_link else None
        query = None
    return records


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


# The days of the session's reference run (the `clean_warehouse` fixture): tests that compare a
# warehouse with one uninterrupted run of the same days use these, so that run is made once.
REFERENCE_DAYS = ("2024-05-01", "2024-05-04")


def run_partition_range(defs, instance, start: str, end: str, **kwargs):
    """Materialize `--select '*'` for the partitions `start`..`end` in one in-process run,
    selecting and tagging the run exactly as `dagster asset materialize --partition-range`."""
    import dagster as dg

    keys = dg.AssetSelection.from_coercible(["*"]).resolve(defs.resolve_asset_graph())
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=list(keys),
        tags={
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        },
        **kwargs,
    )


# Columns that differ between any two loads of the same data: dlt's load ids and when a record
# was rejected. Everything else must be identical between two runs of the same range.
VOLATILE_COLUMNS = ("_dlt%", "rejected_at", "load_id")


def warehouse_fingerprint(path: Path, schemas: tuple[str, ...] = ("raw", "marts")) -> dict:
    """Per table: row count and an order-independent checksum of every row."""
    volatile = " and ".join(f"column_name not like '{pattern}'" for pattern in VOLATILE_COLUMNS)
    fingerprint = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in (select unnest(?)) and table_name not like '_dlt%' "
            "order by all",
            [list(schemas)],
        ).fetchall()
        for schema, table in tables:
            columns = [
                column
                for (column,) in con.execute(
                    "select column_name from information_schema.columns "
                    f"where table_schema = ? and table_name = ? and {volatile} order by all",
                    [schema, table],
                ).fetchall()
            ]
            row = ", ".join(f'"{column}"' for column in columns)
            fingerprint[f"{schema}.{table}"] = con.execute(
                f'select count(*), sum(hash({row})) from "{schema}"."{table}"'
            ).fetchone()
    return fingerprint
