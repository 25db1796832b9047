"""Silence the library warnings that tell a user of the platform nothing they can act on.

Imported first by orchestration/definitions.py, so every process that loads the definitions
(`dagster dev`'s code server, `dagster asset materialize`, `dg`, the daemon) starts quiet. Each
filter matches one message about one API the platform uses on purpose; any other warning, such
as a beta API a fork starts to use, still shows. One warning is printed by the `dagster` CLI
before it loads any code, so the Makefile filters it (`PYTHONWARNINGS`).
"""

from __future__ import annotations

import logging
import re
import warnings

import dagster as dg

# (start of the message, category, why it is noise here)
NOISE: tuple[tuple[str, type[Warning], str], ...] = (
    (
        "Function `observable_source_asset` is currently in beta",
        dg.BetaWarning,
        "the API's observation (ingestion/api_source.py, the `observe_api` schedule); a "
        "breaking change would fail the definitions' import in the tests, not a user's run",
    ),
    (
        "Parameter `backfill_policy` of function `asset` is currently in beta",
        dg.BetaWarning,
        "single-run backfills are what `make backfill` and the UI's one-run backfill rely on; "
        "the tests drive them, so a change of behaviour fails a test, not a user",
    ),
    (
        "Parameter `include_sources` of function `AssetSelection.all` is currently in beta",
        dg.BetaWarning,
        "raised by Dagster itself while parsing `--select '*'`; nothing of ours sets it",
    ),
    (
        "Specifying a partitions_def on an AssetCheckSpec is currently in preview",
        dg.PreviewWarning,
        "per-partition checks of raw orders (orchestration/checks/raw_orders.py) are the "
        "point of those checks; printed twice per process, once by Dagster's own decorator",
    ),
    (
        "Function `build_time_partition_freshness_checks` is superseded",
        dg.SupersessionWarning,
        "its replacement, FreshnessPolicy, is judged per asset, not per partition; the "
        "platform uses both on purpose (orchestration/checks/freshness.py)",
    ),
    (
        "Function `build_sensor_for_freshness_checks` is superseded",
        dg.SupersessionWarning,
        "the sensor that evaluates those per-partition freshness checks, same reason",
    ),
)

# dlt logs this on every load of Arrow pages: the Arrow schema built from a page differs in
# hints (nullability, precision) from the columns the resource declares, and dlt keeps the
# declared ones, which is what the platform wants. Nothing to do for the user.
DLT_NOISE = "when merging arrow schema with dlt schema, several column hints were different"


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self._text not in record.getMessage()


def silence() -> None:
    """Install the filters (idempotent: `warnings` drops duplicates, the logger is checked)."""
    for start, category, _why in NOISE:
        warnings.filterwarnings("ignore", message=re.escape(start), category=category)
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _DropMessage) for f in dlt_logger.filters):
        dlt_logger.addFilter(_DropMessage(DLT_NOISE))


silence()
