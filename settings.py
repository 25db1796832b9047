"""Every setting of the platform, read from the environment in one place.

Defaults run everything locally; `.env.example` lists each variable with a comment. Modules
import the frozen `Settings` returned by `load()` rather than reading `os.environ` themselves,
so a fork can see every knob in one file.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent
LOCAL_API_URL = "http://127.0.0.1:8000/api/v1"
PUBLIC_API_URL = "https://jaffle-shop.dlthub.com/api/v1"


class SettingError(ValueError):
    """A setting is present but unusable; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Settings:
    jaffle_api_url: str
    """JAFFLE_API_URL: base URL of the jaffle-shop API (the local stand-in by default)."""
    duckdb_path: Path
    """DUCKDB_PATH: the warehouse file that dlt loads and dbt transforms."""
    first_partition_date: dt.date
    """FIRST_PARTITION_DATE: the first daily partition (the public API's data starts earlier)."""
    api_page_size: int
    """JAFFLE_API_PAGE_SIZE: records per API page; larger pages mean fewer round trips."""
    step_retry_delay_s: int
    """STEP_RETRY_DELAY_S: first wait before Dagster retries a failed ingestion step (doubles)."""


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


def load() -> Settings:
    """Read the settings now (not at import), so tests and CLIs can set the environment first."""
    duckdb_path = Path(os.environ.get("DUCKDB_PATH") or PROJECT_ROOT / "data" / "warehouse.duckdb")
    return Settings(
        jaffle_api_url=(os.environ.get("JAFFLE_API_URL") or LOCAL_API_URL).rstrip("/"),
        duckdb_path=duckdb_path.resolve(),
        first_partition_date=_date_setting("FIRST_PARTITION_DATE", "2024-01-01"),
        api_page_size=_int_setting("JAFFLE_API_PAGE_SIZE", 1000),
        step_retry_delay_s=_int_setting("STEP_RETRY_DELAY_S", 30),
    )
