"""A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, served on a free
loopback port, with a role that has a password and one database per use; always stopped and
removed afterwards. Nothing assumes a server is already running.

`initdb` refuses to run as root, so on CI (root) the cluster runs as the `postgres` user that
Debian's package creates. Without PostgreSQL installed the fixture fails with a message saying
what to install: `.ci/run` installs it, so a skipped production test would hide a regression.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The role the platform connects as: owns its databases, nothing more (not a superuser).
ROLE = "trifecta"
_ADMIN = "postgres"
_SERVICE_USER = "postgres"
_PARENT, _PREFIX, _OWNER = "/tmp", "trifecta-pg-", "owner.pid"
_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class PostgresSettings:
    """How to reach one database of the cluster as the test role."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    def dagster_env(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads for the Dagster instance storage."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.dbname,
        }

    def libpq_env(self) -> dict[str, str]:
        """The variables libpq tools (psql, psycopg2) read."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.dbname,
        }

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
        )


@dataclass(frozen=True)
class PostgresCluster:
    """A running throwaway cluster. `create_database()` gives each user its own database."""

    root: Path
    bin_dir: Path
    host: str
    port: int
    user: str
    password: str
    admin_password: str

    def settings(self, dbname: str) -> PostgresSettings:
        return PostgresSettings(self.host, self.port, self.user, self.password, dbname)

    def admin(self) -> PostgresSettings:
        return PostgresSettings(self.host, self.port, _ADMIN, self.admin_password, "postgres")

    def create_database(self, name: str) -> PostgresSettings:
        """Create database `name` owned by the test role (idempotent) and return its settings."""
        with contextlib.closing(self.admin().connect()) as con:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{name}" owner "{self.user}"')
        return self.settings(name)

    def drop_database(self, name: str) -> None:
        with contextlib.closing(self.admin().connect()) as con:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'drop database if exists "{name}" with (force)')


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries; fails the test with the fix when none is."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    pytest.fail(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): the production "
        "tests need a throwaway cluster. Install it with `apt-get install postgresql` "
        "(.ci/run does this on CI).",
        pytrace=False,
    )


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """initdb + pg_ctl start on 127.0.0.1 at a free port; stopped and removed on exit."""
    bin_dir = postgres_bin_dir()
    as_service_user = os.geteuid() == 0
    # Under /tmp, not pytest's tmp_path: its parents are private to root, and the server runs
    # as `postgres`, which must reach its data folder.
    reap_orphaned_clusters()
    root = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=_PARENT))
    root.chmod(0o755)
    (root / _OWNER).write_text(str(os.getpid()))
    data, sockets, log = root / "data", root / "socket", root / "server.log"
    password, admin_password = secrets.token_hex(16), secrets.token_hex(16)
    port = _free_port()
    pwfile = root / "pwfile"
    try:
        sockets.mkdir()
        pwfile.write_text(admin_password + "\n")
        if as_service_user:
            account = pwd.getpwnam(_SERVICE_USER)
            for path in (root, sockets, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        _run(
            as_service_user,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                _ADMIN,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )
        pwfile.unlink()
        options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c max_connections=200"
        _run(
            as_service_user,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "start",
            ],
        )
        cluster = PostgresCluster(root, bin_dir, "127.0.0.1", port, ROLE, password, admin_password)
        try:
            _wait_until_accepting(cluster)
            with contextlib.closing(cluster.admin().connect()) as con:
                con.autocommit = True
                with con.cursor() as cur:
                    cur.execute(f'create role "{ROLE}" login password %s', (password,))
            yield cluster
        finally:
            _run(
                as_service_user,
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reap_orphaned_clusters() -> None:
    """Stop and remove the clusters of test sessions that were killed (SIGKILL, a CI timeout)
    before their teardown ran: the server outlives its session, holding a port and memory."""
    bin_dir = None
    for root in Path(_PARENT).glob(f"{_PREFIX}*"):
        try:
            owner = int((root / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # being created, or not one of ours
        if _alive(owner):
            continue
        bin_dir = bin_dir or postgres_bin_dir()
        if (root / "data" / "postmaster.pid").exists():
            _run(
                os.geteuid() == 0,
                [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway cluster shared by the session's tests; each test makes its own databases."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def dagster_postgres(postgres_cluster: PostgresCluster) -> Iterator[PostgresSettings]:
    """A fresh database for one test's Dagster instance, dropped afterwards."""
    name = f"dagster_{secrets.token_hex(4)}"
    settings = postgres_cluster.create_database(name)
    try:
        yield settings
    finally:
        postgres_cluster.drop_database(name)


def _run(as_service_user: bool, command: list[str], check: bool = True) -> None:
    if as_service_user:
        command = ["runuser", "-u", _SERVICE_USER, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, cwd="/", check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


def _wait_until_accepting(cluster: PostgresCluster) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            with contextlib.closing(cluster.admin().connect()):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
