"""`make dev`: the local API stand-in and `dagster dev` on 127.0.0.1, stopped together.

Runs read the stand-in it starts: with JAFFLE_API_URL unset, it is set to API_HOST:API_PORT for
every child (a URL on this machine at another port is refused). Nothing starts unless the
settings pass and the code location loads.

Ctrl-C, SIGTERM or SIGHUP (a closed terminal, a process manager, `timeout`) stop `dagster dev`
with its webserver, daemon and code servers, then the API; nothing is left running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestration.preflight import align_api_url, check_definitions, check_environment
from orchestration.supervise import supervise
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
    print(f"make dev: runs read JAFFLE_API_URL={config.jaffle_api_url}", flush=True)
    port = os.environ.get("DAGSTER_PORT", "3000")
    api = subprocess.Popen([str(BIN / "python"), "-m", "jaffle_api"], start_new_session=True)
    try:
        return supervise([str(BIN / "dagster"), "dev", "--host", "127.0.0.1", "--port", port])
    finally:
        api.terminate()
        try:
            api.wait(timeout=10)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()


if __name__ == "__main__":
    sys.exit(main())
