"""Re-running any range, any number of times, changes nothing in the warehouse."""

import shutil

import dagster as dg

from orchestration.definitions import defs
from tests.support import REFERENCE_DAYS, run_partition_range, warehouse_fingerprint


def test_rerunning_ranges_inside_a_loaded_one_leaves_every_table_unchanged(
    api_url, tmp_path, monkeypatch, clean_warehouse
):
    # A copy of the warehouse (and dlt's and dbt's folders) loaded by one run of REFERENCE_DAYS.
    folder = shutil.copytree(clean_warehouse, tmp_path / "loaded")
    warehouse = folder / "warehouse.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    loaded = warehouse_fingerprint(warehouse)
    assert loaded["marts.orders"][0] > 0
    first, last = REFERENCE_DAYS
    with dg.instance_for_test() as instance:
        for start, end in [("2024-05-02", "2024-05-03"), (first, last)]:
            assert run_partition_range(defs, instance, start, end).success
            assert warehouse_fingerprint(warehouse) == loaded, f"after re-running {start}..{end}"
