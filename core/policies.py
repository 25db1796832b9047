"""Retry and freshness policies, defined once and applied to assets by kind, not one by one.

Retries are layered (README, "Retries"): dlt's HTTP client retries single requests within
seconds; `INGESTION_RETRY` reruns a whole ingestion step when the API stays down longer;
`DBT_RETRY` reruns a dbt step, which then rebuilds only what failed (transform/assets.py).
"""

import datetime as dt

import dagster as dg

import settings


def ingestion_retry() -> dg.RetryPolicy:
    """Three more attempts at ~30 s, ~60 s and ~120 s (±jitter, so parallel runs don't stampede):
    a few minutes of API outage costs a delay, not a failed run."""
    return dg.RetryPolicy(
        max_retries=3,
        delay=settings.load().step_retry_delay_s,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


# dbt failures are rarely transient (SQL, contracts, tests); one retry covers a locked
# warehouse file or a killed process, and reruns only the failed models.
DBT_RETRY = dg.RetryPolicy(max_retries=1, delay=5)

# What a dbt model declares as `meta: {dagster: {freshness: {...}}}` (transform/model_meta.py);
# the example declares it once for its marts folder in dbt_project.yml: the daily schedule
# starts at 02:00 UTC and a run takes minutes, so a mart not refreshed for 26 hours is late.
# Judged per asset; per-partition lateness is the job of the partition freshness checks
# (orchestration/checks/freshness.py).
FRESHNESS_KEYS = {"fail_after_hours", "warn_after_hours"}


def freshness_policy(declared: object, where: str) -> dg.FreshnessPolicy:
    """`{fail_after_hours: 26, warn_after_hours: 24.5}` (warn optional) as a time-window
    `FreshnessPolicy`; anything else stops the definitions with a message naming `where`."""
    example = "freshness: {fail_after_hours: 26, warn_after_hours: 24.5}"
    if not isinstance(declared, dict) or not declared.keys() <= FRESHNESS_KEYS:
        raise ValueError(f"{where}: freshness must read `{example}`, not {declared!r}.")
    hours = {name: declared.get(name) for name in FRESHNESS_KEYS}
    for name, value in hours.items():
        valid = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not valid and (value is not None or name == "fail_after_hours"):
            raise ValueError(
                f"{where}: freshness.{name} must be a positive number of hours "
                f"(`{example}`), not {value!r}."
            )
    fail, warn = hours["fail_after_hours"], hours["warn_after_hours"]
    if warn is not None and warn >= fail:
        raise ValueError(f"{where}: freshness.warn_after_hours must be below fail_after_hours.")
    return dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=fail),
        warn_window=None if warn is None else dt.timedelta(hours=warn),
    )
