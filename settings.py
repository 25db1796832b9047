"""Every setting of the platform, read from the environment in one place.

Defaults run everything locally; `.env.example` lists each variable with a comment. Modules
import the frozen `Settings` returned by `load()` rather than reading `os.environ` themselves,
so a fork can see every knob in one file. `load()` also checks each setting, so a bad one
stops a command (and the Dagster code location) before anything is written, with one message
that names the setting and the fix.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent
# The local stand-in's default address (API_HOST, API_PORT) and the API's base path.
LOCAL_API_HOST, LOCAL_API_PORT, API_PATH = "127.0.0.1", 8000, "/api/v1"
LOCAL_API_URL = f"http://{LOCAL_API_HOST}:{LOCAL_API_PORT}{API_PATH}"
PUBLIC_API_URL = "https://jaffle-shop.dlthub.com/api/v1"
DEFAULT_DUCKDB_PATH = PROJECT_ROOT / "data" / "warehouse.duckdb"
INSTANCE_CONFIG = "dagster.yaml"
WAREHOUSES = ("duckdb", "postgres")
# The libpq variables, the only source of the Postgres warehouse's credentials.
POSTGRES_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


class SettingError(ValueError):
    """A setting is present but unusable; the message names it and says how to fix it."""


@dataclass(frozen=True)
class PostgresWarehouse:
    """Where the Postgres warehouse is, from the libpq variables (PGHOST, PGPORT, PGUSER,
    PGPASSWORD, PGDATABASE): the same ones psql, dbt's profile and dlt read here."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str


@dataclass(frozen=True)
class Settings:
    jaffle_api_url: str
    """JAFFLE_API_URL: base URL of the jaffle-shop API (unset: the local stand-in at
    API_HOST:API_PORT, 127.0.0.1:8000 by default)."""
    duckdb_path: Path
    """DUCKDB_PATH: the warehouse file that dlt loads and dbt transforms."""
    first_partition_date: dt.date
    """FIRST_PARTITION_DATE: the first daily partition (the public API's data starts earlier)."""
    api_page_size: int
    """JAFFLE_API_PAGE_SIZE: records per API page; larger pages mean fewer round trips."""
    step_retry_delay_s: int
    """STEP_RETRY_DELAY_S: first wait before Dagster retries a failed ingestion step (doubles)."""
    dagster_home: Path | None = None
    """DAGSTER_HOME: the Dagster instance folder, holding the shipped dagster.yaml (unset: the
    CLI uses a temporary instance configured by the dagster.yaml of the working directory)."""
    max_rejected_share: float = 0.01
    """MAX_REJECTED_SHARE: above this share of a window's orders rejected to raw.dead_letter,
    the load fails and writes nothing of the window (0.01 = 1%)."""
    warehouse: str = "duckdb"
    """WAREHOUSE: `duckdb` (the embedded file at DUCKDB_PATH) or `postgres` (from the PG*
    variables). dlt, dbt, the checks and the row counts all follow it."""
    postgres: PostgresWarehouse | None = None
    """The Postgres warehouse when WAREHOUSE=postgres, else None."""

    @property
    def single_writer(self) -> bool:
        """DuckDB allows one writer process: writers then queue in the `duckdb` pool."""
        return self.warehouse == "duckdb"


def _share_setting(name: str, default: float) -> float:
    raw = os.environ.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise SettingError(
            f"{name}={raw!r} must be a share between 0 and 1, e.g. 0.01 for 1% (default {default})."
        )
    return value


def _date_setting(name: str, default: str) -> dt.date:
    raw = os.environ.get(name, default)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise SettingError(
            f"{name}={raw!r} is not a date: use YYYY-MM-DD, e.g. {default}."
        ) from None


def _int_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a whole number (default {default}).") from None
    if value < 1:
        raise SettingError(f"{name}={raw!r} must be at least 1 (default {default}).")
    return value


def _api_url_problem(raw: str) -> str | None:
    if not raw or any(character.isspace() for character in raw):
        return "contains spaces" if raw else "is empty"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "has no host"
    if parts.query or parts.fragment:
        # The endpoint paths and their query parameters are appended to it.
        return "has a query or fragment (the base URL ends with the path)"
    return None


def _local_api_url() -> str:
    """JAFFLE_API_URL's default: the local stand-in where `make api`, `make dev` and `make serve`
    start it (API_HOST:API_PORT), so moving the stand-in moves the runs with it."""
    host = os.environ.get("API_HOST", "").strip() or LOCAL_API_HOST
    port = os.environ.get("API_PORT", "").strip() or str(LOCAL_API_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError(f"API_PORT={port!r} is not a port number (default {LOCAL_API_PORT}).")
    return f"http://{host}:{port}{API_PATH}"


def _api_url() -> str:
    raw = os.environ.get("JAFFLE_API_URL") or _local_api_url()
    problem = _api_url_problem(raw)
    if problem:
        raise SettingError(
            f"JAFFLE_API_URL={raw!r} {problem}: set it to the API's base URL, e.g. "
            f"{LOCAL_API_URL} (the local stand-in) or {PUBLIC_API_URL}."
        )
    return raw.rstrip("/")


def _duckdb_path() -> Path:
    """The warehouse file, checked writable.

    The rule: the default path's folder (`data/` in the project) is created on first use; a
    path the user chose must be in a folder that exists, so that a typo does not quietly start
    a new, empty warehouse somewhere else.
    """
    raw = os.environ.get("DUCKDB_PATH") or str(DEFAULT_DUCKDB_PATH)
    path = Path(raw).resolve()
    fix = "set DUCKDB_PATH to a file in a writable folder, e.g. data/warehouse.duckdb (the default)"
    if path.is_dir():
        raise SettingError(f"DUCKDB_PATH={raw!r} is a folder, not a file: {fix}.")
    folder = path.parent
    if not folder.exists():
        if path == DEFAULT_DUCKDB_PATH:
            return path
        raise SettingError(
            f"DUCKDB_PATH={raw!r} is in a folder that does not exist ({folder}): create it "
            f"(mkdir -p {folder}) or {fix}."
        )
    if not folder.is_dir():
        raise SettingError(f"DUCKDB_PATH={raw!r}: {folder} is not a folder: {fix}.")
    if not _can_create_in(folder):
        # DuckDB writes a .wal file next to the database: the folder must be writable.
        raise SettingError(f"DUCKDB_PATH={raw!r}: the folder {folder} is not writable: {fix}.")
    if path.exists() and not _can_write(path):
        raise SettingError(f"DUCKDB_PATH={raw!r}: the file is not writable: {fix}.")
    return path


# Writability is tried, not asked: `os.access` says yes to root on any mode, and knows nothing
# of read-only mounts or immutable files, where DuckDB would then fail mid-run.
def _can_create_in(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            return True
    except OSError:
        return False


def _can_write(path: Path) -> bool:
    """Opened for appending and closed at once: the file's content and time stay as they were."""
    try:
        with path.open("ab"):
            return True
    except OSError:
        return False


def _dagster_home() -> Path | None:
    raw = os.environ.get("DAGSTER_HOME")
    if not raw:
        return None
    home = Path(raw).expanduser().resolve()
    fix = (
        f"copy the project's {INSTANCE_CONFIG} there (cp {PROJECT_ROOT / INSTANCE_CONFIG} "
        f"{home}/), or run `make setup`, which sets DAGSTER_HOME=.dagster and copies it"
    )
    if not home.is_dir():
        raise SettingError(f"DAGSTER_HOME={raw!r} is not a folder: mkdir -p {home} and {fix}.")
    if not (home / INSTANCE_CONFIG).is_file():
        # Without it Dagster silently runs with defaults: no pool limit, so two runs can write
        # the single-writer warehouse at once.
        raise SettingError(
            f"DAGSTER_HOME={raw!r} has no {INSTANCE_CONFIG}, so Dagster would run without the "
            f"project's pool limit: {fix}."
        )
    return home


def _warehouse() -> str:
    raw = (os.environ.get("WAREHOUSE") or "duckdb").strip().lower()
    if raw not in WAREHOUSES:
        raise SettingError(
            f"WAREHOUSE={raw!r} is not a warehouse this platform builds: set it to "
            f"{' or '.join(WAREHOUSES)} (default duckdb)."
        )
    return raw


def _postgres() -> PostgresWarehouse:
    missing = [name for name in POSTGRES_VARIABLES if not os.environ.get(name)]
    if missing:
        raise SettingError(
            f"WAREHOUSE=postgres needs {', '.join(missing)}: set the libpq variables "
            f"{', '.join(POSTGRES_VARIABLES)} to the warehouse's server, role and database."
        )
    raw_port = os.environ["PGPORT"]
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise SettingError(f"PGPORT={raw_port!r} is not a port number (Postgres' default 5432).")
    return PostgresWarehouse(
        host=os.environ["PGHOST"],
        port=int(raw_port),
        user=os.environ["PGUSER"],
        password=os.environ["PGPASSWORD"],
        database=os.environ["PGDATABASE"],
    )


def load() -> Settings:
    """Read and check the settings now (not at import), so tests and CLIs can set the
    environment first. Raises `SettingError` naming the first unusable setting."""
    return Settings(
        jaffle_api_url=_api_url(),
        duckdb_path=_duckdb_path(),
        first_partition_date=_date_setting("FIRST_PARTITION_DATE", "2024-01-01"),
        api_page_size=_int_setting("JAFFLE_API_PAGE_SIZE", 1000),
        step_retry_delay_s=_int_setting("STEP_RETRY_DELAY_S", 30),
        dagster_home=_dagster_home(),
        max_rejected_share=_share_setting("MAX_REJECTED_SHARE", 0.01),
        warehouse=(warehouse := _warehouse()),
        postgres=_postgres() if warehouse == "postgres" else None,
    )
