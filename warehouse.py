"""Read-only access to the warehouse for checks, metadata and the dashboard: DuckDB or
Postgres, whichever WAREHOUSE names, behind one `execute(sql, params)` with `?` placeholders.

The SQL that runs through it is written once for both (information_schema, `generate_series`,
`cast(... as date)`), so the checks cannot disagree with the warehouse dbt and dlt write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import settings


class Rows(Protocol):
    def fetchall(self) -> list[tuple]: ...
    def fetchone(self) -> tuple | None: ...


class Warehouse(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...


class _Postgres:
    """psycopg2 speaks `%s`; the platform's SQL speaks `?` (DuckDB's style)."""

    def __init__(self, connection: Any):
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        cursor = self._connection.cursor()
        cursor.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return cursor


@contextlib.contextmanager
def read_only() -> Iterator[Warehouse]:
    """A read-only connection in UTC. On DuckDB it is refused while another process writes,
    which is why every step that reads is in the warehouse pool there as well."""
    config = settings.load()
    if config.postgres is not None:
        import psycopg2  # only a Postgres warehouse needs the driver loaded

        pg = config.postgres
        connection = psycopg2.connect(
            host=pg.host,
            port=pg.port,
            user=pg.user,
            password=pg.password,
            dbname=pg.database,
            options="-c TimeZone=UTC -c default_transaction_read_only=on",
        )
        try:
            yield _Postgres(connection)
        finally:
            connection.close()
        return
    import duckdb

    with duckdb.connect(str(config.duckdb_path), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        yield connection
