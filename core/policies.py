"""Retry and freshness policies, defined once and applied to assets by kind, not one by one.

Retries are layered (README, "Retries"): dlt's HTTP client retries single requests within
seconds; `ingestion_retry` reruns a whole ingestion step when the API stays down longer;
the dbt step retries once and then rebuilds only what failed (transform/invocation.py).
Neither retries a stop signal (core/interrupts.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable, Iterator

import dagster as dg

import settings
from core.step_retry import retry_delay

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
