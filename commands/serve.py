"""`make serve`: Dagster's production shape as separate processes on this machine, on 127.0.0.1.

A gRPC code server holds the code and launches the runs; the webserver and the daemon load no
code, they reach it through deploy/workspace.yaml; all three share the Postgres instance of
DAGSTER_HOME (deploy/dagster.yaml). When JAFFLE_API_URL points at the local API stand-in (or is
unset: it then follows API_HOST/API_PORT), the stand-in runs beside them, as in `make dev`. The
code server starts first and must have loaded the definitions before the others start. Any stop
signal (Ctrl-C, SIGTERM, SIGHUP) or the end of any one process stops them all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from commands.local_api import LocalApi, local_api_command
from commands.preflight import align_api_url, check_environment
from commands.supervise import Service, supervise_all
from settings import INSTANCE_CONFIG, PROJECT_ROOT, SettingError

BIN = Path(sys.executable).parent
MODULE = "orchestration.definitions"
LOCATION_NAME = "trifecta"
WORKSPACE = PROJECT_ROOT / "deploy" / "workspace.yaml"
INSTANCE_TEMPLATE = PROJECT_ROOT / "deploy" / "dagster.yaml"
HOST = "127.0.0.1"
# Dagster's own defaults: the webserver on 3000, a code server on 4000.
DEFAULT_WEBSERVER_PORT = 3000
DEFAULT_CODE_SERVER_PORT = 4000
# Read by deploy/workspace.yaml, so the webserver and the daemon find the code server.
CODE_SERVER_HOST_VAR = "DAGSTER_CODE_SERVER_HOST"
CODE_SERVER_PORT_VAR = "DAGSTER_CODE_SERVER_PORT"
POSTGRES_VARS = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)


def services(webserver_port: int, code_server_port: int, with_api: bool = True) -> list[Service]:
    """The processes `make serve` runs, in start order."""
    command = local_api_command() if with_api else None
    api = [Service("api", command)] if command else []
    return [
        *api,
        Service(
            "code-server",
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-m",
                MODULE,
                "--location-name",
                LOCATION_NAME,
                "-h",
                HOST,
                "-p",
                str(code_server_port),
            ],
            ready=lambda: code_server_ready(HOST, code_server_port),
        ),
        Service(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                HOST,
                "-p",
                str(webserver_port),
                "-w",
                str(WORKSPACE),
            ],
        ),
        Service("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE)]),
    ]


def serves_the_standin(api_url: str) -> bool:
    """Whether JAFFLE_API_URL points at the local stand-in (API_HOST:API_PORT): only then does
    `make serve` start it, so a deployment on the real API has no stand-in to fail."""
    return LocalApi.from_env().serves(api_url)


def code_server_ready(host: str, port: int) -> bool:
    """Whether the code server answers with the loaded definitions (not merely listens)."""
    from dagster._grpc.client import DagsterGrpcClient

    try:
        DagsterGrpcClient(port=port, host=host).list_repositories()
    except Exception:
        return False
    return True


def check_serve_environment(environ: os._Environ | dict[str, str] = os.environ) -> str:
    """JAFFLE_API_URL, once checked; raises `SettingError` unless the Postgres variables are set
    and DAGSTER_HOME's instance keeps its storage in Postgres (the processes would not share a
    SQLite instance safely)."""
    missing = [name for name in POSTGRES_VARS if not environ.get(name)]
    if missing:
        raise SettingError(
            f"{', '.join(missing)} not set: the services share a Postgres instance "
            f"({INSTANCE_TEMPLATE.relative_to(PROJECT_ROOT)} reads {', '.join(POSTGRES_VARS)})."
        )
    config = check_environment()
    instance_config = config.dagster_home / INSTANCE_CONFIG
    storage = (yaml.safe_load(instance_config.read_text()) or {}).get("storage") or {}
    if "postgres" not in storage:
        raise SettingError(
            f"DAGSTER_HOME={config.dagster_home} keeps the instance in SQLite: point DAGSTER_HOME "
            f"at a folder holding {INSTANCE_TEMPLATE.relative_to(PROJECT_ROOT)} (mkdir -p DIR && "
            f"cp {INSTANCE_TEMPLATE} DIR/ && export DAGSTER_HOME=DIR)."
        )
    return config.jaffle_api_url


# Dagster's own setting (read by the run workers): a run of a partition range writes its
# per-partition materializations to the Postgres instance in one insert per batch of this many
# instead of one insert each (a 30-day backfill: 49-53 s -> 43 s on the benchmark machine). SQLite
# storage has no batch insert, so the local `dagster dev` setup leaves it unset.
EVENT_BATCH_SIZE_VAR = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = "1000"


def main() -> int:
    try:
        with_api = align_api_url()
        check_serve_environment()
    except SettingError as error:
        print(f"make serve: {error}", file=sys.stderr)
        return 2
    # Imported once the settings are checked: the alerts package reads its own on import.
    from orchestration.alerts.startup import startup_check

    startup_check("make serve")  # one line if Slack refuses SLACK_BOT_TOKEN or cannot be reached
    webserver_port = int(os.environ.get("DAGSTER_PORT", DEFAULT_WEBSERVER_PORT))
    code_server_port = int(os.environ.get(CODE_SERVER_PORT_VAR, DEFAULT_CODE_SERVER_PORT))
    os.environ[CODE_SERVER_HOST_VAR] = HOST
    os.environ[CODE_SERVER_PORT_VAR] = str(code_server_port)
    os.environ.setdefault(EVENT_BATCH_SIZE_VAR, EVENT_BATCH_SIZE)
    print(
        f"make serve: code server on {HOST}:{code_server_port}, "
        f"UI on http://{HOST}:{webserver_port}",
        flush=True,
    )
    return supervise_all(services(webserver_port, code_server_port, with_api))


if __name__ == "__main__":
    sys.exit(main())
