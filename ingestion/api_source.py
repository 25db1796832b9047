"""The jaffle-shop API as an observable source at the head of the lineage.

An observation asks the API whether it answers and which recent day it has orders for, so a
user sees in the UI that the source is down, or behind, before any ingestion runs.
"""

import datetime as dt
import time

import dagster as dg
import requests

import settings

JAFFLE_SHOP_API = dg.AssetKey(["jaffle_shop_api"])
# How far back to look for the latest day with orders: a week covers a long weekend's gap.
LOOKBACK_DAYS = 7


def latest_day_with_orders(base_url: str, today: dt.date) -> dt.date | None:
    """The most recent day, up to today, for which the API serves at least one order."""
    for offset in range(LOOKBACK_DAYS + 1):
        day = (today - dt.timedelta(days=offset)).isoformat()
        response = requests.get(
            f"{base_url}/orders",
            params={"start_date": day, "end_date": day, "page_size": 1},
            timeout=10,
        )
        response.raise_for_status()
        if response.json():
            return dt.date.fromisoformat(day)
    return None


@dg.observable_source_asset(
    key=JAFFLE_SHOP_API,
    group_name="sources",
    description="The jaffle-shop REST API (JAFFLE_API_URL) that dlt ingests from.",
)
def jaffle_shop_api() -> dg.ObserveResult:
    base_url = settings.load().jaffle_api_url
    started = time.perf_counter()
    try:
        latest = latest_day_with_orders(base_url, dt.datetime.now(dt.UTC).date())
    except requests.RequestException as error:
        raise dg.Failure(
            description=f"The jaffle-shop API at {base_url} did not answer: "
            f"{type(error).__name__}. Check JAFFLE_API_URL and that the API is up.",
            metadata={"url": base_url, "reachable": False},
        ) from error
    return dg.ObserveResult(
        data_version=dg.DataVersion(latest.isoformat() if latest else "none"),
        metadata={
            "url": base_url,
            "reachable": True,
            "latest_day_with_orders": latest.isoformat() if latest else "none in the last week",
            "response_seconds": round(time.perf_counter() - started, 3),
        },
    )
