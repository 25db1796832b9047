"""Retry and freshness policies, defined once and applied to assets by kind, not one by one.

Retries are layered (README, "Retries"): dlt's HTTP client retries single requests within
seconds; `ingestion_retry` reruns a whole ingestion step when the API stays down longer;
the dbt step retries once and then rebuilds only what failed (transform/invocation.py).
Neither retries a stop signal (core/interrupts.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator

import dagster as dg

import settings
from core.step_retry import StepRetry, raise_for_retry

INGESTION_RETRIES = 3
# Each wait is its nominal delay ±20 %: enough spread that runs failing together do not retry
# together, while ~30 s, ~60 s, ~120 s stay what they say. Dagster's `Jitter.PLUS_MINUS` adds
# ± the *base* delay to every wait instead, so the first one lands anywhere in 0-60 s.
JITTER_FRACTION = 0.2


def ingestion_retry(step: Callable[..., Iterator]) -> Callable[..., Iterator]:
    """Retry the decorated step three more times, ~30 s, ~60 s and ~120 s apart
    (STEP_RETRY_DELAY_S, doubling, ±20 %), when it raises an error: a few minutes of API outage
    cost a delay, not a failed run. Goes under `@dg.multi_asset` on a step that yields.

    Raised from the step itself rather than declared as a `RetryPolicy`, for two reasons: a
    policy cannot express a jitter proportional to each delay, and under a policy Dagster turns
    an interrupt (Ctrl-C, SIGTERM, a cancelled run) into a retry. Here only `Exception`s are
    retried; `KeyboardInterrupt` and `DagsterExecutionInterruptedError` (BaseExceptions) pass
    through and end the step. A `dg.Failure(allow_retries=False)` is final, as under a policy.
    """

    @functools.wraps(step)  # Dagster reads the context and resource parameters through it
    def retried(context: dg.AssetExecutionContext, *args, **kwargs) -> Iterator:
        try:
            yield from step(context, *args, **kwargs)
        except dg.DagsterError:
            raise  # Dagster's own error, as under a policy
        except Exception as error:
            policy = StepRetry(
                INGESTION_RETRIES, settings.load().step_retry_delay_s, JITTER_FRACTION
            )
            raise_for_retry(context, error, policy)

    return retried


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
