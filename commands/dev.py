"""`make dev`: the local API stand-in and `dagster dev` on 127.0.0.1, stopped together.

Runs read the stand-in it starts: with JAFFLE_API_URL unset, it is set to API_HOST:API_PORT for
every child (a URL on this machine at another port is refused). Nothing starts unless the
settings pass and the code location loads.

Ctrl-C, SIGTERM or SIGHUP (a closed terminal, a process manager, `timeout`) stop `dagster dev`
with its webserver, daemon and code servers, then the API; nothing is left running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from commands.local_api import LocalApi, local_api_command
from commands.preflight import align_api_url, check_definitions, check_environment
from commands.supervise import supervise
from settings import SettingError

BIN = Path(sys.executable).parent


def main() -> int:
    try:
        align_api_url()
        config = check_environment()
        check_definitions()
    except SettingError as error:
        print(f"make dev: {error}", file=sys.stderr)
        return 2
    # Imported once the settings are checked: the alerts package reads its own on import.
    from orchestration.alerts.startup import startup_check

    startup_check("make dev")  # one line if Slack refuses SLACK_BOT_TOKEN or cannot be reached
    print(f"make dev: runs read JAFFLE_API_URL={config.jaffle_api_url}", flush=True)
    port = os.environ.get("DAGSTER_PORT", "3000")
    api = _start_standin()
    try:
        return supervise([str(BIN / "dagster"), "dev", "--host", "127.0.0.1", "--port", port])
    finally:
        if api is not None:
            api.terminate()
            try:
                api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait()


def _start_standin() -> subprocess.Popen | None:
    """The stand-in, unless its address is taken already (`make api` in another terminal, or
    another local API on purpose): a second one would only fail to bind. Said in one line,
    since the runs then read whatever listens there."""
    command = local_api_command()
    if command is None:
        return None
    standin = LocalApi.from_env()
    with socket.socket() as sock:
        sock.settimeout(1)
        taken = sock.connect_ex((standin.host, standin.port)) == 0
    if taken:
        print(
            f"make dev: {standin.host}:{standin.port} already answers, so no stand-in is "
            "started there: runs read that server (`make api` in another terminal?)",
            flush=True,
        )
        return None
    return subprocess.Popen(command, start_new_session=True)


if __name__ == "__main__":
    sys.exit(main())
