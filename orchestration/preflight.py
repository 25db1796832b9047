"""Check the settings, the Dagster instance and the warehouse before a command writes anything.

`python -m orchestration.preflight` prints the one problem found and exits 2; launchers call
`check_environment()` first so that a bad setting never starts a run.
"""

from __future__ import annotations

import sys

import yaml

import settings
from settings import INSTANCE_CONFIG, PROJECT_ROOT, SettingError

EXIT_BAD_SETTING = 2


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


def main() -> int:
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
