"""Pool slots claimed one process at a time on a SQLite instance.

Dagster's SQL event log claims a pool slot by selecting a free slot row, then updating that row
by id. Postgres locks the selected row (`FOR UPDATE SKIP LOCKED`); SQLite ignores the clause and
pysqlite runs the select outside a transaction, so two run processes claiming in the same
instant can both take the one `duckdb` slot: two warehouse writers at once, which the pool
exists to prevent (seen in tests/test_pools.py, reproduced by tests/test_pool_claims.py). The
pending-step queue in front of the slots has the same read-then-write shape.

A SQLite instance serves one machine, so an exclusive file lock in DAGSTER_HOME around each
claim and each release makes them atomic across every run process of the instance. Dagster
offers no hook around a claim, so for the run's duration (orchestration/executor.py) the two
storage methods are wrapped on the run's own storage object, and restored after; nothing else
in the process changes. On any other storage this does nothing. A fix belongs in Dagster's
SQLite storage (a conditional update); when it lands, this module goes.
"""

from __future__ import annotations

import fcntl
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

LOCK_FILE = ".pool-claims.lock"
# The storage methods that read the slot and queue tables and then write them.
SERIALIZED_METHODS = ("claim_concurrency_slot", "free_concurrency_slot_for_step")


def _holding_lock(lock_path: Path, method: Callable) -> Callable:
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
            return method(*args, **kwargs)

    return locked


@contextmanager
def serialized_slot_claims(instance: dg.DagsterInstance) -> Iterator[None]:
    """Within this block, this process claims and frees pool slots under the instance's lock."""
    # Imported here: the storage modules pull in alembic and friends (~0.7 s), which loading
    # the definitions does not need.
    from dagster._core.storage.event_log import (
        ConsolidatedSqliteEventLogStorage,
        SqliteEventLogStorage,
    )

    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage | ConsolidatedSqliteEventLogStorage):
        yield
        return
    lock_path = Path(instance.root_directory) / LOCK_FILE
    for name in SERIALIZED_METHODS:
        setattr(storage, name, _holding_lock(lock_path, getattr(storage, name)))
    try:
        yield
    finally:
        for name in SERIALIZED_METHODS:
            delattr(storage, name)  # the class's own methods again
