"""Retry and freshness policies, defined once and applied to assets by kind, not one by one.

Retries are layered (README, "Retries"): dlt's HTTP client retries single requests within
seconds; `ingestion_retry()` reruns a whole ingestion step when the API stays down longer;
the dbt step retries once and then rebuilds only what failed (transform/invocation.py).
Neither retries a stop signal (core/interrupts.py).
"""

import datetime as dt

import dagster as dg

import settings
from core.step_retry import StepRetry


def ingestion_retry() -> StepRetry:
    """Three more attempts at 30 s, 60 s and 120 s, each ±20 % (so parallel runs don't
    stampede): a few minutes of API outage costs a delay, not a failed run. Applied by the
    ingestion steps to failures only (core/step_retry.py)."""
    return StepRetry(max_retries=3, base_delay_s=settings.load().step_retry_delay_s, jitter=0.2)


# The daily schedule starts at 02:00 UTC and a run takes minutes: a mart not refreshed by
# 06:00 UTC, or not for 26 hours, is late. Judged per asset; per-partition lateness is the
# job of the partition freshness checks (orchestration/checks/freshness.py).
MART_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=26), warn_window=dt.timedelta(hours=24, minutes=30)
)


def with_mart_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Attach `MART_FRESHNESS` to every asset in the `marts` group, leave the rest as they are."""
    if spec.group_name != "marts":
        return spec
    return dg.apply_freshness_policy(spec, MART_FRESHNESS)
