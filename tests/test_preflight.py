"""`make backfill` and `make dev` check before they start anything: an API that does not answer,
or definitions that do not load, stop them in seconds with one message, having written
nothing (no run in the instance, no warehouse file)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from tests.dagster_dev import free_port
from tests.processes import PROJECT_ROOT, kill_tree, make_backfill, start_make

DAY = "2024-03-05"
# Read when the code location loads (orchestration/alerts/settings.py), not by settings.load():
# the settings pass and only loading the definitions finds it.
BREAKS_THE_DEFINITIONS = {"ALERT_SENSOR_INTERVAL_S": "0"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A fresh instance and warehouse, the instance set up beforehand so only the command is
    timed."""
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        **extra,
    }
    setup = start_make(["setup"], env, tmp_path / "setup.log")
    assert setup.wait(timeout=300) == 0, (tmp_path / "setup.log").read_text()[-3000:]
    return env


def _nothing_written(env: dict[str, str]) -> None:
    assert not Path(env["DUCKDB_PATH"]).exists()
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.get_runs() == []


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/api/v1"


def test_make_backfill_stops_in_seconds_when_the_api_does_not_answer(tmp_path):
    url = _closed_port_url()
    env = _env(tmp_path, JAFFLE_API_URL=url)
    started = time.monotonic()
    code, output = make_backfill(DAY, DAY, env, tmp_path / "backfill.log", timeout_s=120)
    elapsed = time.monotonic() - started
    assert code == 2, output[-3000:]
    assert elapsed < 10, f"{elapsed:.1f} s"
    (line,) = [line for line in output.splitlines() if line.startswith("make backfill: ")]
    assert f"The jaffle-shop API at {url} cannot be reached (ConnectionRefusedError)" in line
    assert "make api" in line and "JAFFLE_API_URL" in line
    assert "Traceback" not in output
    _nothing_written(env)


def test_make_backfill_stops_on_definitions_that_do_not_load(api_url, tmp_path):
    env = _env(tmp_path, JAFFLE_API_URL=api_url, **BREAKS_THE_DEFINITIONS)
    code, output = make_backfill(DAY, DAY, env, tmp_path / "backfill.log", timeout_s=120)
    assert code == 2, output[-3000:]
    (line,) = [line for line in output.splitlines() if line.startswith("make backfill: ")]
    assert line.startswith(
        "make backfill: the code location orchestration.definitions does not load: "
        "ALERT_SENSOR_INTERVAL_S='0' must be 1 or more"
    )
    assert "dg check defs" in line and "Traceback" not in output
    _nothing_written(env)


def test_make_dev_starts_nothing_on_definitions_that_do_not_load(tmp_path, monkeypatch):
    monkeypatch.delenv("JAFFLE_API_URL", raising=False)  # it follows API_PORT
    api_port, dagster_port = free_port(), free_port()
    env = _env(
        tmp_path,
        API_PORT=str(api_port),
        DAGSTER_PORT=str(dagster_port),
        **BREAKS_THE_DEFINITIONS,
    )
    dev = start_make(["dev"], env, tmp_path / "dev.log")
    try:
        dev.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pass  # still running: it started something
    finally:
        kill_tree(dev.pid)
        dev.wait()
    output = (tmp_path / "dev.log").read_text()
    assert dev.returncode == 2, output[-3000:]
    (line,) = [line for line in output.splitlines() if line.startswith("make dev: ")]
    assert "the code location orchestration.definitions does not load" in line, output
    assert "ALERT_SENSOR_INTERVAL_S='0'" in line
    # Neither the stand-in nor dagster dev started.
    assert "jaffle-shop stand-in" not in output and "dagster-webserver" not in output
    _nothing_written(env)


def test_loading_the_definitions_passes_on_the_project_as_shipped(tmp_path):
    env = _env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "commands.preflight", "--definitions"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == result.stderr == ""


def test_an_unreachable_api_is_one_error_not_a_chain_of_wrappers():
    """Each attempt of an ingestion step logs this error: without requests' and urllib3's
    chained exceptions it is ~37 lines of log per attempt instead of ~110."""
    from ingestion.reachability import ApiUnreachableError, ensure_api_reachable

    url = _closed_port_url()
    try:
        ensure_api_reachable(url, timeout_s=2)
    except ApiUnreachableError as error:
        assert error.__cause__ is None and error.__suppress_context__
        assert f"at {url} cannot be reached (ConnectionRefusedError)" in str(error)
    else:
        raise AssertionError("a closed port answered")
