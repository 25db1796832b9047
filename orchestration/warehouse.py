"""Read-only access to the DuckDB warehouse for checks, metadata and the dashboard."""

import contextlib
from collections.abc import Iterator

import duckdb

import settings


@contextlib.contextmanager
def read_only() -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection. DuckDB refuses it while another process writes, which is why
    every step that reads is in the `duckdb` pool as well."""
    with duckdb.connect(str(settings.load().duckdb_path), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        yield connection
