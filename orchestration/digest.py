"""`make digest`: print the morning digest (orchestration/alerts/digest.py) for the instance in
DAGSTER_HOME and the configured warehouse, as the Slack sensor would post it now."""

import datetime as dt
import sys

import dagster as dg


def main() -> int:
    # Imported here: the definitions read the settings, which the environment sets first.
    import orchestration.library_warnings  # noqa: F401
    from orchestration.alerts import settings as alert_settings
    from orchestration.alerts.digest import gather, last_sent, render
    from orchestration.definitions import defs

    with dg.DagsterInstance.get() as instance:
        now = dt.datetime.now(dt.UTC)
        digest = gather(instance, defs.resolve_asset_graph(), now, last_sent(instance))
    print(render(digest, alert_settings.load().webserver_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
