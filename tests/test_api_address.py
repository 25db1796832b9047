"""The stand-in's address (API_HOST, API_PORT) and JAFFLE_API_URL cannot disagree under
`make dev`, `make api` and `make serve`: unset, the URL follows the stand-in into every process
`make dev` starts, runs included; on this machine at another port, it is refused."""

import contextlib
import os
import signal
from pathlib import Path

import dagster as dg
import pytest
import requests

from commands.local_api import LocalApi
from commands.preflight import align_api_url
from settings import PUBLIC_API_URL, SettingError
from tests.dagster_dev import free_port
from tests.processes import kill_tree, start_make, wait_for

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
OBSERVE_JOB = "observe_jaffle_shop_api"


def test_an_unset_api_url_is_set_to_the_stand_ins_for_the_children():
    environ = {"API_PORT": "8250"}
    assert align_api_url(environ) is True
    assert environ["JAFFLE_API_URL"] == "http://127.0.0.1:8250/api/v1"


def test_a_url_at_the_stand_ins_address_or_elsewhere_is_kept():
    for url, serves in [
        ("http://127.0.0.1:8250/api/v1", True),
        ("http://localhost:8250/api/v1", True),
        (PUBLIC_API_URL, False),
        ("http://api.example.com:8000/api/v1", False),
    ]:
        environ = {"API_PORT": "8250", "JAFFLE_API_URL": url}
        assert align_api_url(environ) is serves, url
        assert environ["JAFFLE_API_URL"] == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/api/v1", "http://localhost/api/v1", "http://[::1]:8250/api/v1"]
)
def test_a_url_on_this_machine_elsewhere_than_the_stand_in_is_refused(url):
    with pytest.raises(SettingError) as raised:
        align_api_url({"API_PORT": "8250", "JAFFLE_API_URL": url})
    message = str(raised.value)
    assert message == LocalApi("127.0.0.1", 8250).address_conflict(url)
    assert message.startswith(f"JAFFLE_API_URL={url} is on this machine but not where")
    assert "API_PORT=8250" in message and "unset JAFFLE_API_URL" in message
    assert message.endswith("or set it to http://127.0.0.1:8250/api/v1.")
    assert "\n" not in message


def test_make_dev_and_make_api_refuse_a_url_at_another_port(tmp_path):
    api_port, other_port = free_port(), free_port()
    env = {
        "API_PORT": str(api_port),
        "JAFFLE_API_URL": f"http://127.0.0.1:{other_port}/api/v1",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_PORT": str(free_port()),
    }
    for target in ("dev", "api"):
        log = tmp_path / f"{target}.log"
        process = start_make([target], env, log)
        try:
            process.wait(timeout=120)
        finally:
            kill_tree(process.pid)
        output = log.read_text()
        assert process.returncode != 0, output[-3000:]
        (line,) = [line for line in output.splitlines() if "is on this machine" in line]
        assert f"JAFFLE_API_URL=http://127.0.0.1:{other_port}/api/v1" in line
        assert f"API_PORT={api_port}" in line and "unset JAFFLE_API_URL" in line
        assert "Traceback" not in output
        assert not _answers(f"http://127.0.0.1:{api_port}/health")
    assert not Path(env["DUCKDB_PATH"]).exists()


def test_a_run_under_make_dev_with_api_port_reads_its_own_stand_in(tmp_path, monkeypatch):
    # Unset, as a user who only moves the stand-in; then nothing tells the runs but make dev.
    monkeypatch.delenv("JAFFLE_API_URL", raising=False)
    api_port, dagster_port = free_port(), free_port()
    home = tmp_path / "dagster_home"
    env = {
        "API_PORT": str(api_port),
        "DAGSTER_PORT": str(dagster_port),
        "DAGSTER_HOME": str(home),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "TMPDIR": str(_mkdir(tmp_path / "tmp")),
    }
    standin_url = f"http://127.0.0.1:{api_port}/api/v1"
    webserver = f"http://127.0.0.1:{dagster_port}"
    dev = start_make(["dev"], env, tmp_path / "dev.log")
    try:
        wait_for(lambda: _location_loaded(webserver, dev, tmp_path), 300, "the code location", 1)
        params = {
            "selector": {
                "repositoryLocationName": "trifecta",
                "repositoryName": "__repository__",
                "jobName": OBSERVE_JOB,
            },
            "runConfigData": {},
        }
        answer = requests.post(
            f"{webserver}/graphql",
            json={"query": LAUNCH_RUN, "variables": {"params": params}},
            timeout=60,
        ).json()["data"]["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        run_id = answer["run"]["runId"]
        wait_for(lambda: _finished(home, run_id), 240, "the observation run", 1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=60)
        finally:
            kill_tree(dev.pid)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        records = instance.fetch_observations(dg.AssetKey("jaffle_shop_api"), limit=10).records
    (record,) = [r for r in records if r.run_id == run_id]
    metadata = record.asset_observation.metadata
    # The run's own process read the stand-in make dev started, on API_PORT.
    assert metadata["url"].value == standin_url
    assert metadata["reachable"].value is True
    assert f"make dev: runs read JAFFLE_API_URL={standin_url}" in _log(tmp_path)


def _location_loaded(webserver: str, dev, tmp_path: Path) -> bool:
    from tests.dagster_dev import location_loaded

    assert dev.poll() is None, _log(tmp_path)[-3000:]
    return location_loaded(webserver)


def _finished(home: Path, run_id: str) -> bool:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished


def _log(tmp_path: Path) -> str:
    return (tmp_path / "dev.log").read_text()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
