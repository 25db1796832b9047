"""Processes racing for the one `duckdb` slot of a SQLite instance never hold it together.

Without orchestration/pool_claims.py, this race gives two holders at once in about one run
of four on a 2-core machine (Dagster's SQLite claim reads a free slot, then writes it)."""

import multiprocessing
import os
import time

import dagster as dg

from orchestration.pool_claims import serialized_slot_claims

PROCESSES = 4
CLAIMS_EACH = 25


def _claim_and_free_repeatedly(home: str, start, events) -> None:
    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.get() as instance, serialized_slot_claims(instance):
        storage = instance.event_log_storage
        run_id = f"run-{os.getpid()}"
        start.wait()
        for claim in range(CLAIMS_EACH):
            step_key = f"step-{claim}"
            while not storage.claim_concurrency_slot("duckdb", run_id, step_key).is_claimed:
                time.sleep(0.001)
            events.put((time.monotonic(), +1))
            time.sleep(0.002)
            events.put((time.monotonic(), -1))
            storage.free_concurrency_slot_for_step(run_id, step_key)


def test_racing_claims_never_hold_the_slot_twice(dagster_home):
    home = str(dagster_home)  # with the shipped dagster.yaml: one slot per pool
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.initialize_concurrency_limit_to_default("duckdb")

    spawn = multiprocessing.get_context("spawn")
    start, events = spawn.Barrier(PROCESSES), spawn.Queue()
    workers = [
        spawn.Process(target=_claim_and_free_repeatedly, args=(home, start, events))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    # A release is logged before the slot is freed, so ties sort releases first.
    timeline = sorted(events.get(timeout=120) for _ in range(PROCESSES * CLAIMS_EACH * 2))
    for worker in workers:
        worker.join(timeout=60)

    holders, most_holders = 0, 0
    for _, change in timeline:
        holders += change
        most_holders = max(most_holders, holders)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    assert most_holders == 1
    assert (dagster_home / ".pool-claims.lock").exists()
