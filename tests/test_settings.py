"""A bad setting stops every command before anything is written, with one message that names
the setting and says how to fix it: in `settings.load()`, in `python -m commands.preflight`
and in the Dagster code location that `dagster asset materialize` loads."""

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest

import settings
from commands.backfill_range import BackfillRangeError, validate_backfill_range
from commands.preflight import check_environment
from settings import LOCAL_API_URL, PUBLIC_API_URL, SettingError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")
SETTINGS = (
    "JAFFLE_API_URL",
    "API_HOST",
    "API_PORT",
    "DUCKDB_PATH",
    "DAGSTER_HOME",
    "FIRST_PARTITION_DATE",
)


@pytest.fixture
def good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Valid settings: a temporary instance with the shipped dagster.yaml and warehouse."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    return tmp_path


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingError) as raised:
        check_environment()
    return str(raised.value)


def test_valid_settings_load_and_pass_the_preflight(good):
    config = check_environment()
    assert config.jaffle_api_url == LOCAL_API_URL
    assert config.duckdb_path == good / "warehouse.duckdb"
    assert config.dagster_home == good / "dagster_home"
    assert not config.duckdb_path.exists()


def test_an_unset_api_url_follows_the_stand_ins_address(good, monkeypatch):
    monkeypatch.setenv("API_PORT", "8250")
    assert settings.load().jaffle_api_url == "http://127.0.0.1:8250/api/v1"
    monkeypatch.setenv("API_HOST", "localhost")
    assert settings.load().jaffle_api_url == "http://localhost:8250/api/v1"
    monkeypatch.setenv("JAFFLE_API_URL", PUBLIC_API_URL)
    assert settings.load().jaffle_api_url == PUBLIC_API_URL


def test_a_stand_in_port_that_is_not_a_number_is_named(good, monkeypatch):
    message = _error(monkeypatch, API_PORT="80x")
    assert message == "API_PORT='80x' is not a port number (default 8000)."


def test_a_trailing_slash_on_the_api_url_is_fine(good, monkeypatch):
    monkeypatch.setenv("JAFFLE_API_URL", PUBLIC_API_URL + "/")
    assert settings.load().jaffle_api_url == PUBLIC_API_URL


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("htp:/x", "is not an http(s) URL"),
        ("ftp://example.com/api/v1", "is not an http(s) URL"),
        ("127.0.0.1:8000/api/v1", "is not an http(s) URL"),
        ("http:///api/v1", "has no host"),
        ("http://127.0.0.1:8000/api v1", "contains spaces"),
        (" http://127.0.0.1:8000/api/v1", "contains spaces"),
        ("http://127.0.0.1:port/api/v1", "is not a valid URL"),
        (
            "http://127.0.0.1:8000/api/v1?page_size=1",
            "has a query or fragment (the base URL ends with the path)",
        ),
    ],
)
def test_a_malformed_api_url_is_named_with_examples_of_good_ones(good, monkeypatch, url, problem):
    message = _error(monkeypatch, JAFFLE_API_URL=url)
    assert message.startswith(f"JAFFLE_API_URL={url!r} {problem}: set it to")
    assert LOCAL_API_URL in message and PUBLIC_API_URL in message


def test_a_warehouse_in_a_missing_folder_names_the_folder(good, monkeypatch):
    path = good / "no_such_folder" / "warehouse.duckdb"
    message = _error(monkeypatch, DUCKDB_PATH=str(path))
    assert message.startswith(f"DUCKDB_PATH={str(path)!r} is in a folder that does not exist")
    assert f"mkdir -p {path.parent}" in message
    assert not path.parent.exists()


def test_the_default_warehouse_folder_may_still_be_created(good, monkeypatch):
    default = good / "project" / "data" / "warehouse.duckdb"
    monkeypatch.setattr(settings, "DEFAULT_DUCKDB_PATH", default)
    monkeypatch.delenv("DUCKDB_PATH")
    assert settings.load().duckdb_path == default


def test_a_warehouse_under_a_regular_file_is_refused(good, monkeypatch):
    not_a_folder = good / "notes.txt"
    not_a_folder.write_text("a file, not a folder")
    message = _error(monkeypatch, DUCKDB_PATH=str(not_a_folder / "warehouse.duckdb"))
    assert message.startswith("DUCKDB_PATH=") and f"{not_a_folder} is not a folder" in message


def test_a_warehouse_path_that_is_a_folder_is_refused(good, monkeypatch):
    message = _error(monkeypatch, DUCKDB_PATH=str(good))
    assert message.startswith(f"DUCKDB_PATH={str(good)!r} is a folder, not a file")


@pytest.fixture
def read_only():
    """Makes a file or folder read-only for everyone, root included: `chattr +i` (immutable)
    as root, whom permission bits do not stop, else `chmod a-w`. Undone after the test."""
    made: list[Path] = []

    def make(path: Path) -> Path:
        if os.geteuid() == 0:
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"root, and chattr +i is refused here: {result.stderr.strip()}")
        else:
            path.chmod(path.stat().st_mode & ~0o222)
        made.append(path)
        return path

    yield make
    for path in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(path.stat().st_mode | 0o200)


def test_a_warehouse_in_a_read_only_folder_is_refused(good, monkeypatch, read_only):
    folder = good / "read_only"
    folder.mkdir()
    read_only(folder)
    message = _error(monkeypatch, DUCKDB_PATH=str(folder / "warehouse.duckdb"))
    assert "DUCKDB_PATH=" in message and f"the folder {folder} is not writable" in message
    assert list(folder.iterdir()) == []


def test_a_read_only_warehouse_file_is_refused(good, monkeypatch, read_only):
    path = good / "warehouse.duckdb"
    path.write_bytes(b"a warehouse")
    read_only(path)
    message = _error(monkeypatch, DUCKDB_PATH=str(path))
    assert message.startswith(f"DUCKDB_PATH={str(path)!r}: the file is not writable")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to take another effective user")
def test_writability_is_tried_as_the_writer_not_asked_for_the_real_user(tmp_path):
    """`os.access` answers for the real user, DuckDB writes as the effective one: a process
    started by root that runs as `nobody` (a wrapper dropping privileges) cannot write a
    root-owned folder, and is told so before anything starts."""
    folder = Path(tempfile.mkdtemp(prefix="root-only-"))  # outside pytest's root-only folder
    try:
        folder.chmod(0o755)
        script = (
            "import os, settings\n"
            "os.setresuid(0, 65534, 0)  # real user root, effective and files as nobody\n"
            "try:\n    settings.load()\n"
            "except settings.SettingError as error:\n    print(error)\n"
        )
        env = {**os.environ, "DUCKDB_PATH": str(folder / "warehouse.duckdb")}
        env.pop("DAGSTER_HOME", None)
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert f"the folder {folder} is not writable" in result.stdout
    finally:
        shutil.rmtree(folder)


def test_checking_a_warehouse_file_leaves_it_as_it_was(good, monkeypatch):
    path = good / "warehouse.duckdb"
    path.write_bytes(b"a warehouse")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    assert check_environment().duckdb_path == path
    assert path.read_bytes() == b"a warehouse"
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert sorted(p.name for p in good.iterdir()) == ["dagster_home", "warehouse.duckdb"]


def test_a_dagster_home_without_the_shipped_config_is_refused(good, monkeypatch):
    home = good / "empty_home"
    home.mkdir()
    message = _error(monkeypatch, DAGSTER_HOME=str(home))
    assert message.startswith(f"DAGSTER_HOME={str(home)!r} has no dagster.yaml")
    assert f"cp {PROJECT_ROOT / 'dagster.yaml'} {home}/" in message and "make setup" in message


def test_a_missing_dagster_home_folder_is_refused(good, monkeypatch):
    home = good / "no_such_home"
    message = _error(monkeypatch, DAGSTER_HOME=str(home))
    assert message.startswith(f"DAGSTER_HOME={str(home)!r} is not a folder")


def test_the_preflight_needs_a_dagster_home(good, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME")
    settings.load()  # a plain `python -m ingestion` needs no instance
    with pytest.raises(SettingError, match=r"^DAGSTER_HOME is not set.*make setup"):
        check_environment()


def test_the_preflight_needs_the_pool_limit_in_the_instance_config(good, monkeypatch):
    (good / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.raises(SettingError, match=r"^DAGSTER_HOME=.*sets no pool limit"):
        check_environment()


def test_a_malformed_first_partition_date_is_named(good, monkeypatch):
    message = _error(monkeypatch, FIRST_PARTITION_DATE="2024-13-01")
    assert (
        message
        == "FIRST_PARTITION_DATE='2024-13-01' is not a date: use YYYY-MM-DD, e.g. 2024-01-01."
    )


# --- backfill ranges -------------------------------------------------------------------------

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
NOW = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)  # the last complete day is 2024-03-09


def test_a_range_of_existing_partitions_passes():
    validate_backfill_range("2024-01-01", "2024-03-09", PARTITIONS, NOW)
    validate_backfill_range("2024-03-05", "2024-03-05", PARTITIONS, NOW)


@pytest.mark.parametrize("day", ["2024-13-01", "2024-02-30", "03/01/2024", "20240301", ""])
def test_a_malformed_backfill_date_is_named(day):
    with pytest.raises(BackfillRangeError, match=r"^START=.* is not a date: use YYYY-MM-DD"):
        validate_backfill_range(day, "2024-03-05", PARTITIONS, NOW)
    with pytest.raises(BackfillRangeError, match=r"^END=.* is not a date: use YYYY-MM-DD"):
        validate_backfill_range("2024-03-05", day, PARTITIONS, NOW)


def test_an_end_before_the_start_is_refused():
    with pytest.raises(BackfillRangeError, match=r"^END=2024-03-01 is before START=2024-03-05"):
        validate_backfill_range("2024-03-05", "2024-03-01", PARTITIONS, NOW)


@pytest.mark.parametrize(
    ("start", "end"), [("2023-12-31", "2024-01-02"), ("2024-03-09", "2024-03-10")]
)
def test_a_range_outside_the_partitions_names_the_valid_range(start, end):
    with pytest.raises(BackfillRangeError) as raised:
        validate_backfill_range(start, end, PARTITIONS, NOW)
    assert str(raised.value) == (
        f"{start}...{end} is outside the daily partitions, which run from 2024-01-01 "
        "(FIRST_PARTITION_DATE) to 2024-03-09 (yesterday, the last complete UTC day)."
    )


# --- real processes: nothing is written ------------------------------------------------------


def _process_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    if not home.exists():
        home.mkdir()
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    env.update(DAGSTER_HOME=str(home), DUCKDB_PATH=str(tmp_path / "warehouse.duckdb"))
    env.update(DO_NOT_TRACK="1", **overrides)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _materialize(env: dict[str, str], partition: str = "2024-03-01"):
    return _run(
        [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions"]
        + ["--select", "raw/orders", "--partition", partition],
        env,
    )


def _runs_recorded(home: Path) -> list:
    from dagster._core.instance.ref import InstanceRef

    if not home.is_dir():
        return []
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        return list(instance.get_runs())


def _nothing_written(tmp_path: Path, env: dict[str, str]) -> None:
    assert not list(tmp_path.rglob("*.duckdb*")), "a warehouse file was created"
    assert not Path(env["DUCKDB_PATH"]).exists()
    assert _runs_recorded(Path(env["DAGSTER_HOME"])) == []


def _bad_settings(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "home_without_config").mkdir()
    return {
        "malformed url": ({"JAFFLE_API_URL": "htp:/x"}, "JAFFLE_API_URL='htp:/x' is not an"),
        "missing folder": (
            {"DUCKDB_PATH": str(tmp_path / "missing" / "warehouse.duckdb")},
            "DUCKDB_PATH=",
        ),
        "file as folder": (
            {"DUCKDB_PATH": str(tmp_path / "a_file" / "warehouse.duckdb")},
            f"{tmp_path / 'a_file'} is not a folder",
        ),
        "home without config": (
            {"DAGSTER_HOME": str(tmp_path / "home_without_config")},
            "has no dagster.yaml",
        ),
    }


BAD = ["malformed url", "missing folder", "file as folder", "home without config"]


@pytest.mark.parametrize("case", BAD)
def test_the_preflight_command_prints_the_setting_and_exits_2(tmp_path, case):
    overrides, expected = _bad_settings(tmp_path)[case]
    env = _process_env(tmp_path, **overrides)
    result = _run([sys.executable, "-m", "commands.preflight"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one message, no traceback
    _nothing_written(tmp_path, env)


@pytest.mark.parametrize("case", BAD)
def test_the_code_location_refuses_to_load_with_the_same_message(tmp_path, case):
    overrides, expected = _bad_settings(tmp_path)[case]
    env = _process_env(tmp_path, **overrides)
    result = _materialize(env)
    assert result.returncode != 0
    # The traceback ends with the message, as the last thing the user reads.
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("settings.SettingError: ") and expected in last_line
    _nothing_written(tmp_path, env)


@pytest.mark.parametrize("key", ["2099-01-01", "2024-03-01' or 1=1 --"])
def test_a_partition_key_outside_the_range_starts_no_run(tmp_path, key):
    env = _process_env(tmp_path)
    result = _materialize(env, partition=key)
    assert result.returncode != 0
    assert key in result.stderr
    _nothing_written(tmp_path, env)
