"""The deployment files cannot rot silently: every module, command, variable, file and port that
deploy/ names exists in the project and agrees with what `make serve` runs.

Containers and clusters cannot run on the build machine, so the Dockerfile, the compose file and
the Helm values are checked here against the project and against each other, the compose file
also as compose renders it (`docker-compose config` needs no daemon); `make serve` itself runs
for real in test_topology.py.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from commands import serve
from settings import SettingError

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# Variables the tools themselves read, not the project.
TOOL_VARIABLES = {
    "DO_NOT_TRACK",
    "DAGSTER_HOME",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
}


def load_yaml(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def env_names(node) -> set[str]:
    """Every `{env: NAME}` in a Dagster YAML document."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(env_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(env_names(value) for value in node))
    return set()


def project_variables() -> set[str]:
    """Environment variables the project's own code and config read (outside deploy/)."""
    sources = [ROOT / ".env.example", ROOT / "Makefile", ROOT / "dbt_project" / "profiles.yml"]
    for package in (
        "orchestration",
        "commands",
        "core",
        "ingestion",
        "transform",
        "example",
        "jaffle_api",
    ):
        sources.extend((ROOT / package).rglob("*.py"))
    sources.extend(ROOT.glob("*.py"))
    text = "\n".join(path.read_text() for path in sources)
    return set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", text))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def dockerfile(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == instruction]


def image_cmd() -> list[str]:
    (cmd,) = dockerfile("CMD")
    return yaml.safe_load(cmd)  # the exec form is a JSON array


def code_server_args(command: list[str]) -> list[str]:
    """A code server command without its executable, host and port: what must not drift."""
    args = command[command.index("code-server") :]
    drop = {"-h", "--host", "-p", "--port"}
    return [a for i, a in enumerate(args) if a not in drop and (i == 0 or args[i - 1] not in drop)]


def served_command(name: str) -> list[str]:
    (service,) = [s for s in serve.services(3000, 4000) if s.name == name]
    return [Path(service.command[0]).name, *service.command[1:]]


# --- deploy/dagster.yaml -----------------------------------------------------------------------


def test_the_production_instance_keeps_everything_in_postgres_from_dagster_pg_variables():
    config = load_yaml("dagster.yaml")
    assert set(config["storage"]) == {"postgres"}
    assert env_names(config["storage"]) == set(serve.POSTGRES_VARS)
    makefile = (ROOT / "Makefile").read_text()
    (serve_vars,) = re.findall(r"^SERVE_VARS := (.+)$", makefile, re.MULTILINE)
    assert serve_vars.split() == list(serve.POSTGRES_VARS)


def test_the_production_instance_validates_against_dagsters_schema(monkeypatch, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    for name in serve.POSTGRES_VARS:
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert config["telemetry"] == {"enabled": False} and config["nux"] == {"enabled": False}


def test_the_production_instance_keeps_the_shipped_pool_limit_and_retries():
    shipped, production = (
        yaml.safe_load((ROOT / "dagster.yaml").read_text()),
        load_yaml("dagster.yaml"),
    )
    assert production["concurrency"] == shipped["concurrency"]
    assert production["run_retries"] == shipped["run_retries"]


def test_make_backfills_preflight_accepts_a_home_holding_the_production_instance(
    monkeypatch, tmp_path
):
    from commands.preflight import check_environment

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    assert check_environment().dagster_home == tmp_path


# --- make serve --------------------------------------------------------------------------------


def test_the_workspace_points_at_the_code_server_make_serve_starts():
    (entry,) = load_yaml("workspace.yaml")["load_from"]
    grpc = entry["grpc_server"]
    assert grpc["location_name"] == serve.LOCATION_NAME
    assert grpc["host"] == {"env": serve.CODE_SERVER_HOST_VAR}
    assert grpc["port"] == {"env": serve.CODE_SERVER_PORT_VAR}
    assert serve.WORKSPACE == DEPLOY / "workspace.yaml"
    assert serve.MODULE == "orchestration.definitions"
    assert (ROOT / "orchestration" / "definitions.py").is_file()


def test_make_serve_binds_every_service_to_loopback():
    for service in serve.services(3000, 4000):
        command = service.command
        if "-h" in command:
            assert command[command.index("-h") + 1] == "127.0.0.1", service
    assert serve.HOST == "127.0.0.1"


def test_make_serve_starts_the_standin_only_when_the_api_url_points_at_it(monkeypatch):
    monkeypatch.setenv("API_PORT", "8123")
    assert serve.serves_the_standin("http://127.0.0.1:8123/api/v1")
    assert not serve.serves_the_standin("http://127.0.0.1:8000/api/v1")
    assert not serve.serves_the_standin("https://jaffle-shop.dlthub.com/api/v1")
    names = [service.name for service in serve.services(3000, 4000, with_api=False)]
    assert names == ["code-server", "webserver", "daemon"]


def test_make_serve_names_every_missing_postgres_variable(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DAGSTER_PG_HOST": "127.0.0.1"}
    result = subprocess.run(
        ["make", "--no-print-directory", "serve-env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    missing = "DAGSTER_PG_PORT DAGSTER_PG_USERNAME DAGSTER_PG_PASSWORD DAGSTER_PG_DB"
    assert f"not set: {missing}" in result.stdout


def test_make_serve_refuses_a_home_whose_instance_is_sqlite(monkeypatch, tmp_path):
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    environ = {name: "x" for name in serve.POSTGRES_VARS}
    with pytest.raises(SettingError, match="keeps the instance in SQLite"):
        serve.check_serve_environment(environ)


# --- deploy/Dockerfile -------------------------------------------------------------------------


def test_the_image_copies_files_that_exist_and_everything_the_code_location_imports():
    copied = set()
    for args in dockerfile("COPY"):
        *sources, _destination = shlex.split(args)
        for source in sources:
            matches = [p.relative_to(ROOT).as_posix() for p in ROOT.glob(source.rstrip("/"))]
            assert matches, f"COPY {source}: no such file in the project"
            copied.update(matches)
    makefile = (ROOT / "Makefile").read_text()
    (packages,) = re.findall(r"^PROJECT_PACKAGES := (.+)$", makefile, re.MULTILINE)
    needed = {*packages.split(), "dbt_project", "pyproject.toml", "uv.lock"}
    assert needed <= copied, f"the image lacks {sorted(needed - copied)}"
    assert "deploy/dagster.yaml" in copied and "deploy/workspace.yaml" in copied


def test_the_image_installs_the_lock_prepares_the_manifest_and_runs_as_a_user():
    runs = " ".join(dockerfile("RUN"))
    assert "uv sync --frozen" in runs
    assert "dbt parse" in runs and "--project-dir dbt_project" in runs
    (user,) = dockerfile("USER")
    assert user not in {"root", "0"}
    assert (ROOT / "dbt_project" / "dbt_project.yml").is_file()


def test_the_image_serves_the_code_location_make_serve_serves():
    cmd = image_cmd()
    assert cmd[0] == "dagster"
    assert code_server_args(cmd) == code_server_args(served_command("code-server"))
    port = int(cmd[cmd.index("-p") + 1])
    assert dockerfile("EXPOSE") == [str(port)] and port == serve.DEFAULT_CODE_SERVER_PORT


# --- deploy/docker-compose.yml -----------------------------------------------------------------


def compose() -> dict:
    return load_yaml("docker-compose.yml")


def test_compose_runs_the_make_serve_topology_with_the_same_commands():
    services = compose()["services"]
    assert set(services) == {"postgres", "code-server", "webserver", "daemon"}
    assert code_server_args(services["code-server"]["command"]) == code_server_args(image_cmd())
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        ours = served_command(name)
        workspace = command[command.index("-w") + 1]
        assert workspace == "deploy/workspace.yaml" and (ROOT / workspace).is_file()
        assert [a for a in command if a not in {workspace}][:2] == [
            a for a in ours if a != str(serve.WORKSPACE)
        ][:2]
    build = services["code-server"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_compose_wires_the_instance_and_code_server_variables_the_deploy_files_read():
    services = compose()["services"]
    read_by_deploy = env_names(load_yaml("dagster.yaml")) | env_names(load_yaml("workspace.yaml"))
    cmd = image_cmd()
    for name in ("code-server", "webserver", "daemon"):
        env = services[name]["environment"]
        assert read_by_deploy <= set(env), name
        assert env[serve.CODE_SERVER_HOST_VAR] == "code-server"
        assert env[serve.CODE_SERVER_PORT_VAR] == cmd[cmd.index("-p") + 1]
        assert env["DAGSTER_PG_HOST"] == "postgres"
    # Only the code location (its run workers) gets the warehouse, the API and Slack.
    for name in ("webserver", "daemon"):
        assert not {"DUCKDB_PATH", "JAFFLE_API_URL", "SLACK_BOT_TOKEN"} & set(
            services[name]["environment"]
        )


def test_compose_names_only_variables_the_project_reads():
    known = project_variables() | set(serve.POSTGRES_VARS) | TOOL_VARIABLES
    known |= {serve.CODE_SERVER_HOST_VAR, serve.CODE_SERVER_PORT_VAR}
    for name, service in compose()["services"].items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: {sorted(unknown)} read by nothing in the project"


def test_compose_publishes_ports_on_loopback_only():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert compose()["services"]["webserver"]["ports"] == ["127.0.0.1:3000:3000"]


def _compose_tool() -> list[str]:
    """`docker compose` (the plugin) where installed, else Debian's `docker-compose`; either
    renders the file without a container runtime. `.ci/run` installs the latter."""
    if shutil.which("docker") and (
        subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    tool = shutil.which("docker-compose")
    assert tool, (
        "needs `docker compose` or Debian's docker-compose (apt-get install docker-compose)"
    )
    return [tool]


def _published(port) -> str:
    """host_ip:published:target, from compose v1's short form or v2's long form."""
    if isinstance(port, dict):
        return f"{port.get('host_ip', '0.0.0.0')}:{port['published']}:{port['target']}"
    return str(port).removesuffix("/tcp")


def render_compose(**env: str) -> subprocess.CompletedProcess:
    """`<compose> -f deploy/docker-compose.yml config` with only `env` set: what compose would
    run, variables substituted and anchors merged."""
    return subprocess.run(
        [*_compose_tool(), "-f", str(DEPLOY / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def rendered() -> dict:
    result = render_compose(
        DAGSTER_PG_PASSWORD="rendered-password",  # pragma: allowlist secret
        DAGSTER_PG_USERNAME="ops",
        JAFFLE_API_URL="http://api.internal:8000/api/v1",
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_renders_the_four_services_with_only_the_ui_published_on_loopback(rendered):
    services = rendered["services"]
    assert set(services) == {"postgres", "code-server", "webserver", "daemon"}
    published = {
        name: [_published(port) for port in s["ports"]]
        for name, s in services.items()
        if s.get("ports")
    }
    assert published == {"webserver": ["127.0.0.1:3000:3000"]}
    assert services["code-server"]["expose"] == ["4000"]
    assert services["code-server"]["command"][-2:] == ["-p", "4000"]
    assert services["webserver"]["command"][-2:] == ["-w", "deploy/workspace.yaml"]
    assert services["daemon"]["command"] == ["dagster-daemon", "run", "-w", "deploy/workspace.yaml"]


def test_compose_renders_the_settings_given_into_the_services_that_read_them(rendered):
    services = rendered["services"]
    assert services["postgres"]["environment"] == {
        "POSTGRES_USER": "ops",
        "POSTGRES_PASSWORD": "rendered-password",  # pragma: allowlist secret
        "POSTGRES_DB": "dagster",
    }
    instance = {
        "DAGSTER_PG_HOST": "postgres",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USERNAME": "ops",
        "DAGSTER_PG_PASSWORD": "rendered-password",  # pragma: allowlist secret
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_CODE_SERVER_HOST": "code-server",
        "DAGSTER_CODE_SERVER_PORT": "4000",
    }
    for name in ("code-server", "webserver", "daemon"):
        environment = services[name]["environment"]
        assert instance.items() <= environment.items(), name
    code_server = services["code-server"]["environment"]
    assert code_server["JAFFLE_API_URL"] == "http://api.internal:8000/api/v1"
    assert code_server["DUCKDB_PATH"] == "/opt/trifecta/data/warehouse.duckdb"
    assert code_server["SLACK_BOT_TOKEN"] == ""  # alerts off unless given
    assert code_server["FIRST_PARTITION_DATE"] == "2024-01-01"


def test_compose_refuses_to_render_without_the_postgres_password():
    result = render_compose()
    assert result.returncode != 0
    assert "set DAGSTER_PG_PASSWORD" in result.stderr


# --- deploy/helm/values.yaml -------------------------------------------------------------------


def helm() -> dict:
    return load_yaml("helm/values.yaml")


def test_helm_serves_the_code_location_of_the_image_on_its_port():
    (deployment,) = helm()["dagster-user-deployments"]["deployments"]
    cmd = image_cmd()
    assert deployment["port"] == int(cmd[cmd.index("-p") + 1])
    args = deployment["codeServerArgs"]
    assert args == ["-m", serve.MODULE, "--location-name", serve.LOCATION_NAME]
    assert deployment["name"] == serve.LOCATION_NAME
    assert helm()["runLauncher"]["type"] == "K8sRunLauncher"
    known = project_variables() | TOOL_VARIABLES
    unknown = {variable["name"] for variable in deployment["env"]} - known
    assert not unknown, f"{sorted(unknown)} read by nothing in the project"


def test_helm_sets_the_instance_settings_of_the_production_dagster_yaml():
    values, instance = helm(), load_yaml("dagster.yaml")
    assert values["concurrency"]["enabled"] is True
    assert (
        values["concurrency"]["pools"]["defaultLimit"]
        == (instance["concurrency"]["pools"]["default_limit"])
    )
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == instance["run_coordinator"]["class"]
    assert {snake(k): v for k, v in daemon["runMonitoring"].items()} == instance["run_monitoring"]
    assert {snake(k): v for k, v in daemon["runRetries"].items()} == instance["run_retries"]
    assert values["telemetry"] == instance["telemetry"]
    assert "postgresqlPassword" not in values["postgresql"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- deploy/warehouses and the README ------------------------------------------------------------


def test_warehouse_snippets_parse_and_are_linked():
    folder = DEPLOY / "warehouses"
    index = (folder / "README.md").read_text()
    snippets = sorted(p for p in folder.iterdir() if p.name != "README.md")
    assert {p.name.split(".")[0] for p in snippets} == {"motherduck", "snowflake", "bigquery"}
    for path in snippets:
        assert f"({path.name})" in index, f"{path.name} is not linked"
        if path.suffix == ".toml":
            assert tomllib.loads(path.read_text())
        else:
            (output,) = yaml.safe_load(path.read_text()).values()
            assert output["type"] in {"duckdb", "snowflake", "bigquery"}
    assert "not tested here" in index.lower()


def test_the_readme_links_only_deploy_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Going to production", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"\]\(((?:deploy|tests|orchestration)/[^)#]+)\)", section)
    assert links, "the section links the deploy files"
    for link in links:
        assert (ROOT / link).exists(), link
