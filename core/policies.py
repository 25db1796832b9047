"""Retry and freshness policies, defined once and applied to assets by kind, not one by one.

Retries are layered (README, "Retries"): dlt's HTTP client retries single requests within
seconds; `ingestion_retry` reruns a whole ingestion step when the API stays down longer;
`DBT_RETRY` reruns a dbt step, which then rebuilds only what failed (transform/assets.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable, Iterator

import dagster as dg

import settings

INGESTION_RETRIES = 3
# Each wait is its nominal delay ±20 %: enough spread that runs failing together do not retry
# together, while ~30 s, ~60 s, ~120 s stay what they say. Dagster's `Jitter.PLUS_MINUS` adds
# ± the *base* delay to every wait instead, so the first one lands anywhere in 0-60 s.
JITTER_FRACTION = 0.2
# A dbt step waits this long before its one retry, or less when STEP_RETRY_DELAY_S is shorter.
DBT_RETRY_DELAY_S = 5


def retry_delay(base_s: float, attempt: int, fraction: float, random: Callable[[], float]) -> float:
    """Seconds before retry `attempt` (1 for the first): `base_s` doubled per earlier retry,
    scaled by a factor drawn evenly from [1 - fraction, 1 + fraction) with `random()` in [0, 1)."""
    if attempt < 1:
        raise ValueError(f"retry attempt {attempt}: the first retry is attempt 1")
    if not 0 <= fraction < 1:
        raise ValueError(f"jitter fraction {fraction}: must be at least 0 and below 1")
    nominal = base_s * 2 ** (attempt - 1)
    return nominal * (1 + fraction * (2 * random() - 1))


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
        except (dg.RetryRequested, dg.DagsterError):
            raise  # a retry asked for already, or Dagster's own error, as under a policy
        except dg.Failure as failure:
            if not failure.allow_retries:
                raise
            raise _retry_request(context) from failure
        except Exception as error:
            raise _retry_request(context) from error

    return retried


def _retry_request(context: dg.AssetExecutionContext) -> dg.RetryRequested:
    attempt = context.retry_number + 1  # retry_number: 0 while the first attempt runs
    wait = retry_delay(settings.load().step_retry_delay_s, attempt, JITTER_FRACTION, random.random)
    return dg.RetryRequested(max_retries=INGESTION_RETRIES, seconds_to_wait=wait)


# dbt failures are rarely transient (SQL, contracts, tests); one retry covers a locked
# warehouse file or a killed process, and reruns only the failed models.
DBT_RETRY = dg.RetryPolicy(
    max_retries=1, delay=min(DBT_RETRY_DELAY_S, settings.load().step_retry_delay_s)
)

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
