"""Check the settings, the Dagster instance and the warehouse before a command writes anything.

`python -m commands.preflight` prints the one problem found and exits 2; launchers call
`check_environment()` first so that a bad setting never starts a run, `check_api()` so that a
backfill never starts against an API that does not answer, and `check_definitions()` so that
nothing starts on a code location that does not load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import MutableMapping

import yaml

import settings
from settings import INSTANCE_CONFIG, PROJECT_ROOT, SettingError

EXIT_BAD_SETTING = 2
DEFINITIONS_MODULE = "orchestration.definitions"
# Connection refused answers at once; this bounds an address that drops packets, so an
# unreachable API stops a command in seconds rather than after the steps' retries.
API_CHECK_TIMEOUT_S = 5.0


def check_environment() -> settings.Settings:
    """The checked settings; raises `SettingError` naming the first bad one and its fix.

    Beyond `settings.load()` (URL, warehouse folder writable, DAGSTER_HOME has dagster.yaml),
    a launcher needs a persistent instance with the pool limit: without DAGSTER_HOME the CLI
    uses a temporary instance, so its runs would not show in the UI nor share pool slots.
    """
    config = settings.load()
    if config.dagster_home is None:
        raise SettingError(
            "DAGSTER_HOME is not set, so the Dagster CLI would use a temporary instance (runs "
            "missing from the UI, no shared pool slots): set DAGSTER_HOME=.dagster and run "
            f"`make setup`, which copies {INSTANCE_CONFIG} there (make sets it for you)."
        )
    instance_config = config.dagster_home / INSTANCE_CONFIG
    try:
        pools = (yaml.safe_load(instance_config.read_text()) or {}).get("concurrency", {})
        limit = (pools or {}).get("pools", {}).get("default_limit")
    except (OSError, yaml.YAMLError, AttributeError) as error:
        raise SettingError(
            f"DAGSTER_HOME={str(config.dagster_home)!r}: {instance_config} cannot be read "
            f"({error.__class__.__name__}): copy the project's {PROJECT_ROOT / INSTANCE_CONFIG} "
            "over it."
        ) from None
    if limit is None:
        raise SettingError(
            f"DAGSTER_HOME={str(config.dagster_home)!r}: {instance_config} sets no pool limit "
            "(concurrency: pools: default_limit: 1), so two runs could write the single-writer "
            f"warehouse at once: copy the project's {PROJECT_ROOT / INSTANCE_CONFIG} over it."
        )
    return config


def align_api_url(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Make JAFFLE_API_URL and the stand-in's address (API_HOST, API_PORT) agree, for a command
    that starts the stand-in; returns whether runs will read that stand-in.

    Unset, JAFFLE_API_URL is set to the stand-in's URL in `environ`, so every child process
    (`dagster dev`, its code servers, the runs) reads the same address. A URL elsewhere (the
    public API) is left alone; one on this machine at another port is refused.
    """
    from commands.local_api import LocalApi

    standin = LocalApi.from_env(environ)
    api_url = (environ.get("JAFFLE_API_URL") or "").strip()
    if not api_url:
        environ["JAFFLE_API_URL"] = standin.url
        return True
    conflict = standin.address_conflict(api_url)
    if conflict:
        raise SettingError(conflict)
    return standin.serves(api_url)


def check_api(api_url: str) -> None:
    """Raises `SettingError` (URL and fix) unless the API answers a one-record request."""
    from ingestion.reachability import ApiUnreachableError, ensure_api_reachable

    try:
        ensure_api_reachable(api_url, timeout_s=API_CHECK_TIMEOUT_S)
    except ApiUnreachableError as error:
        raise SettingError(str(error)) from None


def check_definitions() -> None:
    """Raises `SettingError` with the error `dg check defs` would show unless the code location
    loads. In a child process: the launcher then does not hold the definitions' imports
    (~190 MB) for the hours a run or `make dev` lasts."""
    result = subprocess.run(
        [sys.executable, "-m", "commands.preflight", "--definitions"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise SettingError(lines[-1] if lines else f"exit code {result.returncode}")


def load_definitions() -> str | None:
    """Import the code location and resolve its definitions as Dagster does when it loads it;
    the problem in one line, or None."""
    try:
        with warnings.catch_warnings():
            # Beta and supersession notices say nothing about whether the code loads.
            warnings.simplefilter("ignore")
            import dagster as dg

            module = __import__(DEFINITIONS_MODULE, fromlist=["defs"])
            dg.Definitions.validate_loadable(module.defs)
    except Exception as error:  # noqa: BLE001 - any error is the answer; it is reported whole
        detail = str(error).strip().splitlines()
        reason = detail[0] if isinstance(error, SettingError) and detail else None
        reason = reason or f"{type(error).__name__}: {' '.join(detail)}".strip(": ")
        return (
            f"the code location {DEFINITIONS_MODULE} does not load: {reason} "
            "(`dg check defs` shows the whole error)"
        )
    return None


def main() -> int:
    if sys.argv[1:] == ["--definitions"]:
        problem = load_definitions()
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_BAD_SETTING
        return 0
    if sys.argv[1:] == ["--api-address"]:
        # `make api`: the stand-in alone, refused where JAFFLE_API_URL would send runs elsewhere.
        try:
            align_api_url(dict(os.environ))
        except SettingError as error:
            print(f"make api: {error}", file=sys.stderr)
            return EXIT_BAD_SETTING
        return 0
    try:
        config = check_environment()
    except SettingError as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_SETTING
    print(
        f"settings OK: JAFFLE_API_URL={config.jaffle_api_url} DUCKDB_PATH={config.duckdb_path} "
        f"DAGSTER_HOME={config.dagster_home}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
