"""Re-running any range, any number of times, changes nothing in the warehouse."""

import dagster as dg

from orchestration.definitions import defs
from tests.support import run_partition_range, warehouse_fingerprint


def test_rerunning_ranges_inside_a_loaded_one_leaves_every_table_unchanged(api_url, warehouse):
    with dg.instance_for_test() as instance:
        assert run_partition_range(defs, instance, "2024-05-01", "2024-05-03").success
        loaded = warehouse_fingerprint(warehouse)
        assert loaded["marts.orders"][0] > 0
        for start, end in [("2024-05-02", "2024-05-03"), ("2024-05-01", "2024-05-03")]:
            assert run_partition_range(defs, instance, start, end).success
            assert warehouse_fingerprint(warehouse) == loaded, f"after re-running {start}..{end}"
