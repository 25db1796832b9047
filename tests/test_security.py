"""Security properties a user relies on: no secret committed, the Slack token never written
anywhere, servers on loopback only, and input that cannot reach a URL or SQL unchecked."""

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from commands.backfill_range import BackfillRangeError, validate_backfill_range
from core.windows import dbt_window_env, partition_days
from ingestion.source import jaffle_shop_source
from transform.step_results import _count

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Realistic-looking secrets, for the scanner to catch in a scratch folder.
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
SLACK_TOKEN = "xoxb-2048204820-4096409640960-Zq8XcVbNm1AsDfGhJkL2PoIu"  # pragma: allowlist secret
# What the failing run gets as SLACK_BOT_TOKEN: distinctive, so any copy of it is found.
FAKE_BOT_TOKEN = "xoxb-fake-quokka-must-never-be-written"  # pragma: allowlist secret
MALICIOUS_KEYS = ["2024-01-01' or 1=1 --", "2024-01-01&page_size=1", "2024-01-01;drop", "../x"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the secret scanner ------------------------------------------------------------------------


def _scan(cwd: Path, files: list[str]) -> subprocess.CompletedProcess:
    baseline = PROJECT_ROOT / ".secrets.baseline"
    return subprocess.run(
        [str(BIN / "detect-secrets-hook"), "--baseline", str(baseline), *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_secret_scanner_passes_the_tracked_tree():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "tests/slack_standin.py" in tracked
    result = _scan(PROJECT_ROOT, [*tracked, "tests/test_security.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_secret_scanner_fails_on_a_new_key_or_token(tmp_path):
    (tmp_path / "config.py").write_text(
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nSLACK_BOT_TOKEN = "{SLACK_TOKEN}"\n'
    )
    result = _scan(tmp_path, ["config.py"])
    assert result.returncode == 1
    assert "AWS Access Key" in result.stdout and "Slack Token" in result.stdout
    assert "config.py:1" in result.stdout and "config.py:2" in result.stdout


def test_an_allowlisted_line_passes_the_scanner(tmp_path):
    (tmp_path / "fixture.py").write_text(f'KEY = "{AWS_KEY}"  # pragma: allowlist secret\n')
    assert _scan(tmp_path, ["fixture.py"]).returncode == 0


# --- the Slack token is never written ----------------------------------------------------------


def test_the_slack_token_never_reaches_logs_runs_or_the_warehouse(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    closed = f"http://127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "HOME": str(tmp_path / "user_home"),  # dlt's pipeline folder lands here too
        "JAFFLE_API_URL": f"{closed}/api/v1",  # nothing listens: ingestion fails
        "SLACK_BOT_TOKEN": FAKE_BOT_TOKEN,
        "SLACK_API_URL": f"{closed}/slack/",
        "STEP_RETRY_DELAY_S": "1",
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.2",
        "DO_NOT_TRACK": "1",
    }
    result = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions"]
        + ["--select", "raw/orders", "--partition", "2024-03-01"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [dg.DagsterRunStatus.FAILURE]
        # The records that were grepped below hold the failure, so there was something to leak.
        assert instance.all_logs(runs[0].run_id)
    token = FAKE_BOT_TOKEN.encode()
    assert token not in result.stdout.encode() and token not in result.stderr.encode()
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in written)  # run and event storage
    assert any("compute_logs" in path.parts for path in written)  # the steps' stdout/stderr
    assert [path for path in written if token in path.read_bytes()] == []
    # Nor any part of it that would still identify it.
    assert [path for path in written if b"quokka-must-never" in path.read_bytes()] == []


# --- servers listen on loopback only ---------------------------------------------------------


def _listening_addresses(pid: int) -> set[str]:
    """The local addresses of the TCP sockets that `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(match.group(1))
    addresses = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                host = bytes.fromhex(local.split(":")[0])
                if table == "tcp":
                    addresses.add(socket.inet_ntop(socket.AF_INET, host[::-1]))
                else:
                    words = b"".join(host[i : i + 4][::-1] for i in range(0, 16, 4))
                    addresses.add(socket.inet_ntop(socket.AF_INET6, words))
    return addresses


def test_the_api_stand_in_listens_on_loopback_only():
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if name != "API_HOST"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jaffle_api"],
        cwd=PROJECT_ROOT,
        env={**env, "API_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        addresses: set[str] = set()
        while not addresses and time.monotonic() < deadline:
            assert server.poll() is None, "the stand-in exited"
            time.sleep(0.5)
            addresses = _listening_addresses(server.pid)
        assert addresses == {"127.0.0.1"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_make_dev_binds_the_dagster_ui_to_loopback():
    """A static check of the `dev` recipe, and of the module it runs if it runs one."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = re.search(r"^dev:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    modules = re.findall(r"-m ((?:orchestration|commands)\.\w+)", recipe)
    code = "\n".join((PROJECT_ROOT / f"{m.replace('.', '/')}.py").read_text() for m in modules)
    # `dagster dev ...` in the recipe, or [..."dagster"), "dev", ...] as the module's argv.
    launches = re.findall(r"dagster dev\b.*", recipe) + re.findall(r'"dev",[^\]\n]*', code)
    assert launches
    assert all(re.search(r'--host["\s,]+127\.0\.0\.1\b', launch) for launch in launches)


# --- input reaches no URL or SQL unchecked ---------------------------------------------------

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
NOW = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("key", MALICIOUS_KEYS)
def test_a_malicious_backfill_date_is_refused(key):
    with pytest.raises(BackfillRangeError, match="is not a date: use YYYY-MM-DD"):
        validate_backfill_range(key, "2024-03-01", PARTITIONS, NOW)
    with pytest.raises(BackfillRangeError, match="is not a date: use YYYY-MM-DD"):
        validate_backfill_range("2024-03-01", key, PARTITIONS, NOW)


@pytest.mark.parametrize("key", MALICIOUS_KEYS)
def test_make_backfill_refuses_a_malicious_date_before_launching_anything(
    key, dagster_home, warehouse, capsys
):
    """What `make backfill START=... END=...` runs, in-process: exit 2 with the message, and
    no run, no process and no warehouse (a Dagster partitions object refusing the key is
    Dagster's behaviour, not ours)."""
    from commands.backfill import main

    for start, end, named in [(key, "2024-03-01", "START"), ("2024-03-01", key, "END")]:
        assert main([start, end]) == 2
        message = capsys.readouterr().err
        assert message.startswith(f"make backfill: {named}=") and key in message
        assert "is not a date: use YYYY-MM-DD" in message
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.get_runs() == []
    assert not warehouse.exists()


@pytest.mark.parametrize(
    "day", [*MALICIOUS_KEYS, "2024-03-01", dt.datetime(2024, 3, 1, tzinfo=dt.UTC)]
)
def test_the_source_takes_only_dates_so_no_request_carries_anything_else(day):
    closed = f"http://127.0.0.1:{_free_port()}/api/v1"
    with pytest.raises(TypeError, match="must be a datetime.date"):
        jaffle_shop_source(closed, day, dt.date(2024, 3, 1))
    with pytest.raises(TypeError, match="must be a datetime.date"):
        jaffle_shop_source(closed, dt.date(2024, 3, 1), day)


def test_dbts_window_is_iso_dates_of_the_partition():
    window = PARTITIONS.time_window_for_partition_key("2024-03-01")
    assert partition_days(window) == (dt.date(2024, 3, 1), dt.date(2024, 3, 1))
    assert dbt_window_env(window) == {"DBT_MIN_DATE": "2024-03-01", "DBT_MAX_DATE": "2024-03-01"}


def test_row_counts_quote_the_table_name():
    with duckdb.connect() as warehouse:
        warehouse.execute("create schema marts")
        warehouse.execute("create table marts.orders (order_date date)")
        warehouse.execute("insert into marts.orders values ('2024-03-01'), ('2024-03-02')")
        window = PARTITIONS.time_window_for_partition_key("2024-03-01")
        counts = _count(warehouse, "marts.orders", window, "order_date")
        assert counts["dagster/row_count"] == 2
        assert counts["rows_per_day"].value == {"2024-03-01": 1}
        with pytest.raises(duckdb.CatalogException):
            _count(warehouse, "marts.orders; drop table marts.orders; --", None)
        assert warehouse.execute("select count(*) from marts.orders").fetchone() == (2,)
