"""A long window's order pages, fetched a week at a time with a few weeks in flight.

The API pages a request by `Link` headers, so one request's pages come one after the other.
Splitting the window into weeks gives independent requests: while the orders resource screens
and hands one week to dlt, the next weeks are already on their way. Pages come out in the
window's order, so everything downstream sees what a single request would have given. Memory
holds at most `in_flight` weeks of pages beyond the one being consumed.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from core.windows import split_days

# A week per request; four requests at a time: few enough to stay polite to the API (dlt's
# client backs off on 429 and honours Retry-After), enough to hide a network round trip.
DAYS_PER_REQUEST = 7
REQUESTS_IN_FLIGHT = 4


def window_pages(
    fetch: Callable[[dt.date, dt.date], list],
    first_day: dt.date,
    last_day: dt.date,
    days_per_request: int = DAYS_PER_REQUEST,
    in_flight: int = REQUESTS_IN_FLIGHT,
) -> Iterator:
    """Every page `fetch(first, last)` returns for the window's spans, span by span in order.

    `fetch` runs in worker threads, each call on its own; an error in one is raised here, when
    its span's turn comes, and the spans not yet started are dropped.
    """
    spans = iter(split_days(first_day, last_day, days_per_request))
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="orders-pages") as pool:
        pending: deque[Future] = deque()
        try:
            for span in spans:
                pending.append(pool.submit(fetch, *span))
                if len(pending) == in_flight:
                    break
            while pending:
                pages = pending.popleft().result()
                next_span = next(spans, None)
                if next_span is not None:
                    pending.append(pool.submit(fetch, *next_span))
                yield from pages
        finally:
            for future in pending:
                future.cancel()
