"""Time the ingestion in-process: `python -m bench.ingest_probe START END`.

Timing inside the process, after the imports, measures dlt's work on the rows rather than
Python's start-up; the probe goes through the ingestion CLI's own `main`, so it follows
whatever the pipeline does. Prints one JSON line: seconds and rows per `raw` table.
"""

from __future__ import annotations

import json
import sys
import time

import duckdb

# The Arrow modules the orders resource imports when it first runs (loading the code location
# needs none): imported here, before the clock starts, like every other module.
import ingestion.order_tables  # noqa: F401
import ingestion.rejected_rows  # noqa: F401
import settings
from ingestion.__main__ import main


def _raw_rows(path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'raw' and table_name not like '\\_dlt%' escape '\\'"
        ).fetchall()
        return {
            name: con.execute(f'select count(*) from raw."{name}"').fetchone()[0]
            for (name,) in tables
        }


def probe(first: str, last: str) -> dict:
    started = time.perf_counter()
    code = main(["--start", first, "--end", last, "--resources", "orders"])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "returncode": code, "rows": _raw_rows(settings.load().duckdb_path)}


if __name__ == "__main__":
    print(json.dumps(probe(*sys.argv[1:3])))
