"""Settings without a test elsewhere, each refused by the real command with one message that
names the setting and the fix: the warehouse choice and its Postgres variables, the API page
size, the retry delay, the rejected share (through `python -m commands.preflight`, exit 2,
what every launcher runs first) and the alert grouping window (read when the code location
builds its resources)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from settings import POSTGRES_VARIABLES, SettingError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Every variable these tests set or clear, so the surrounding environment cannot leak in.
VARIABLES = (
    "WAREHOUSE",
    *POSTGRES_VARIABLES,
    "JAFFLE_API_PAGE_SIZE",
    "STEP_RETRY_DELAY_S",
    "MAX_REJECTED_SHARE",
    "JAFFLE_API_URL",
    "FIRST_PARTITION_DATE",
)
POSTGRES = {
    "PGHOST": "127.0.0.1",
    "PGPORT": "5432",
    "PGUSER": "warehouse",
    "PGPASSWORD": "not-a-secret",  # pragma: allowlist secret
    "PGDATABASE": "warehouse",
}


def preflight(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    """`python -m commands.preflight` with valid settings but for `settings`."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    env.update(DAGSTER_HOME=str(home), DUCKDB_PATH=str(tmp_path / "warehouse.duckdb"), **settings)
    return subprocess.run(
        [sys.executable, "-m", "commands.preflight"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_valid_settings_pass_the_preflight(tmp_path):
    """The baseline of the cases below: only the setting each names is wrong."""
    result = preflight(tmp_path, WAREHOUSE="postgres", **POSTGRES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("settings OK: ")


MISSING_PG = {name: "" for name in ("PGUSER", "PGPASSWORD")}
CASES = {
    "unknown warehouse": (
        {"WAREHOUSE": "snowflake"},
        "WAREHOUSE='snowflake' is not a warehouse this platform builds: set it to duckdb or "
        "postgres (default duckdb).",
    ),
    "postgres without its variables": (
        {"WAREHOUSE": "postgres", **POSTGRES, **MISSING_PG},
        "WAREHOUSE=postgres needs PGUSER, PGPASSWORD: set the libpq variables PGHOST, PGPORT, "
        "PGUSER, PGPASSWORD, PGDATABASE to the warehouse's server, role and database.",
    ),
    "postgres port not a number": (
        {"WAREHOUSE": "postgres", **POSTGRES, "PGPORT": "fivefourthreetwo"},
        "PGPORT='fivefourthreetwo' is not a port number (Postgres' default 5432).",
    ),
    "postgres port out of range": (
        {"WAREHOUSE": "postgres", **POSTGRES, "PGPORT": "70000"},
        "PGPORT='70000' is not a port number (Postgres' default 5432).",
    ),
    "page size not a number": (
        {"JAFFLE_API_PAGE_SIZE": "1k"},
        "JAFFLE_API_PAGE_SIZE='1k' is not a whole number (default 1000).",
    ),
    "page size zero": (
        {"JAFFLE_API_PAGE_SIZE": "0"},
        "JAFFLE_API_PAGE_SIZE='0' must be at least 1 (default 1000).",
    ),
    "retry delay with a unit": (
        {"STEP_RETRY_DELAY_S": "30s"},
        "STEP_RETRY_DELAY_S='30s' is not a whole number (default 30).",
    ),
    "retry delay negative": (
        {"STEP_RETRY_DELAY_S": "-1"},
        "STEP_RETRY_DELAY_S='-1' must be at least 1 (default 30).",
    ),
    "rejected share as a percentage": (
        {"MAX_REJECTED_SHARE": "5%"},
        "MAX_REJECTED_SHARE='5%' must be a share between 0 and 1, e.g. 0.01 for 1% (default 0.01).",
    ),
    "rejected share below 0": (
        {"MAX_REJECTED_SHARE": "-0.1"},
        "MAX_REJECTED_SHARE='-0.1' must be a share between 0 and 1, e.g. 0.01 for 1% "
        "(default 0.01).",
    ),
    "rejected share above 1": (
        {"MAX_REJECTED_SHARE": "5"},
        "MAX_REJECTED_SHARE='5' must be a share between 0 and 1, e.g. 0.01 for 1% (default 0.01).",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_preflight_names_the_setting_and_its_fix(tmp_path, case):
    settings, message = CASES[case]
    result = preflight(tmp_path, **settings)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == message + "\n"  # one line: no traceback
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("an hour", "ALERT_GROUPING_WINDOW_MINUTES='an hour' is not a whole number (default 60)."),
        ("-5", "ALERT_GROUPING_WINDOW_MINUTES='-5' must be 0 (no grouping) or more."),
    ],
)
def test_a_bad_alert_grouping_window_stops_the_code_location_loading(monkeypatch, window, message):
    """The definitions build their resources when they load, the Slack resource from the alert
    settings: a bad window stops `dagster dev`, `make backfill` and the daemon's code location
    with the message, in-process here as the code location runs it (the definitions module
    itself is already imported by the session)."""
    from orchestration.resources import build_resources

    monkeypatch.setenv("ALERT_GROUPING_WINDOW_MINUTES", window)
    with pytest.raises(SettingError) as raised:
        build_resources()
    assert str(raised.value) == message
