"""The local API that `make dev`, `make api` and `make serve` start beside Dagster, and the one
address the runs read.

The platform knows the local API only as a module to run (`LOCAL_API_MODULE`, the example's
stand-in by default) listening at API_HOST:API_PORT. A fork that deletes the stand-in, or points
JAFFLE_API_URL at its real API, starts none; nothing here imports it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from settings import API_PATH, LOCAL_API_HOST, LOCAL_API_PORT, SettingError

# What `python -m` runs as the local API: the example's stand-in of the jaffle-shop API.
LOCAL_API_MODULE = os.environ.get("LOCAL_API_MODULE", "jaffle_api")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class LocalApi:
    host: str
    port: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LocalApi:
        host = environ.get("API_HOST", "").strip() or LOCAL_API_HOST
        port = environ.get("API_PORT", "").strip() or str(LOCAL_API_PORT)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingError(
                f"API_PORT={port!r} is not a port number (default {LOCAL_API_PORT})."
            )
        return cls(host, int(port))

    @property
    def url(self) -> str:
        """The base URL runs read it at: JAFFLE_API_URL's value under `make dev`."""
        return f"http://{self.host}:{self.port}{API_PATH}"

    def serves(self, api_url: str) -> bool:
        """Whether `api_url` (JAFFLE_API_URL) is this local API's address."""
        url = urlsplit(api_url)
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        return _same_host(url.hostname or "", self.host) and port == self.port

    def address_conflict(self, api_url: str) -> str | None:
        """Why `api_url` cannot be read while this local API serves, or None: a URL on this
        machine but not at API_HOST:API_PORT would have runs ingest from whatever answers there
        (or nothing) while the local API waits unused. A URL elsewhere (the public API) is fine."""
        host = urlsplit(api_url).hostname or ""
        if not (_is_loopback(host) or host == self.host) or self.serves(api_url):
            return None
        return (
            f"JAFFLE_API_URL={api_url} is on this machine but not where the stand-in listens "
            f"(API_HOST={self.host} API_PORT={self.port}): unset JAFFLE_API_URL (it then "
            f"follows API_PORT) or set it to {self.url}."
        )


def local_api_command() -> list[str] | None:
    """The command that runs the local API, or None when its module is gone (a fork that
    deleted the example's stand-in)."""
    if importlib.util.find_spec(LOCAL_API_MODULE) is None:
        return None
    return [str(Path(sys.executable).parent / "python"), "-m", LOCAL_API_MODULE]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_host(a: str, b: str) -> bool:
    # "localhost" and 127.0.0.1 reach the same server; other loopback addresses do not.
    local = {"localhost", "127.0.0.1"}
    return a == b or (a in local and b in local)
