"""Processes racing for the one `duckdb` slot of a SQLite instance never hold it together.

Dagster's SQLite claim reads a free slot, then writes it: processes that claim in the same
instant can both take it. Here every round starts all racers together at a barrier, each claims
once and keeps what it got until all have tried, so a round with two claims is two holders at
once. Without orchestration/pool_claims.py's lock that shows in most runs; with it, each round
has exactly one holder.
"""

import multiprocessing
import os

import dagster as dg

from orchestration.pool_claims import serialized_slot_claims

PROCESSES = 3
ROUNDS = 12


def _race(home: str, barrier, results) -> None:
    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.get() as instance, serialized_slot_claims(instance):
        storage = instance.event_log_storage
        run_id = f"run-{os.getpid()}"
        for round_number in range(ROUNDS):
            step_key = f"step-{round_number}"
            barrier.wait()  # all claim at once
            claimed = storage.claim_concurrency_slot("duckdb", run_id, step_key).is_claimed
            barrier.wait()  # every racer has tried: the holders still hold
            results.put((round_number, claimed))
            storage.free_concurrency_slot_for_step(run_id, step_key)
            barrier.wait()  # the slot and the queue are empty for the next round


def test_racing_claims_never_hold_the_slot_twice(dagster_home):
    home = str(dagster_home)  # with the shipped dagster.yaml: one slot per pool
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.initialize_concurrency_limit_to_default("duckdb")

    # Forked, not spawned: the racers share this process's imports instead of paying Dagster's
    # start-up each; they open their own instance and connections.
    forked = multiprocessing.get_context("fork")
    barrier, results = forked.Barrier(PROCESSES, timeout=120), forked.Queue()
    racers = [forked.Process(target=_race, args=(home, barrier, results)) for _ in range(PROCESSES)]
    for racer in racers:
        racer.start()
    holders = [0] * ROUNDS
    for _ in range(PROCESSES * ROUNDS):
        round_number, claimed = results.get(timeout=180)
        holders[round_number] += claimed
    for racer in racers:
        racer.join(timeout=60)

    assert [racer.exitcode for racer in racers] == [0] * PROCESSES
    # Exactly one: never two at once, and a free slot is always taken by someone.
    assert holders == [1] * ROUNDS
    with dg.DagsterInstance.get() as instance:
        info = instance.event_log_storage.get_concurrency_info("duckdb")
    assert info.claimed_slots == [] and info.pending_steps == []
