"""Create the Dagster instance's storage once, before the first run.

On a fresh DAGSTER_HOME, two runs started at the same moment would both create the SQLite
storage and one crashes (`table secondary_indexes already exists`). `make setup` calls this, so
the instance exists before any run; a file lock makes two `make` commands started together take
turns. `python -m commands.instance` does the same by hand.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import dagster as dg

READY_MARKER = ".instance-ready"


def prepare_instance(home: Path) -> None:
    """Create or migrate the storage of the instance in `home`; safe to call concurrently."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".instance.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.upgrade()
        (home / READY_MARKER).touch()


if __name__ == "__main__":
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        sys.exit("DAGSTER_HOME is not set: point it at the instance folder (make sets .dagster/).")
    prepare_instance(Path(home))
