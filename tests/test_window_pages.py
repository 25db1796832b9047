"""A long window's pages: fetched concurrently, handed over in the window's order, bounded."""

import datetime as dt
import threading
import time

import pytest

from ingestion.window_pages import window_pages

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2024, 3, 31)


class RecordingFetch:
    """Returns one page per day of its span, and notes how many calls overlap."""

    def __init__(self, seconds: float = 0.02, fail_on: dt.date | None = None):
        self.seconds, self.fail_on = seconds, fail_on
        self.running = self.most_running = 0
        self.lock = threading.Lock()

    def __call__(self, first: dt.date, last: dt.date) -> list:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            time.sleep(self.seconds)
            if self.fail_on is not None and first <= self.fail_on <= last:
                raise ConnectionError(f"the API failed for {first}..{last}")
            return [[first + dt.timedelta(days=n)] for n in range((last - first).days + 1)]
        finally:
            with self.lock:
                self.running -= 1


def test_pages_come_in_the_windows_order_with_every_day_once():
    pages = list(window_pages(RecordingFetch(), FIRST, LAST))
    assert [day for page in pages for day in page] == [
        FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1)
    ]


def test_requests_overlap_but_never_more_than_in_flight():
    fetch = RecordingFetch(seconds=0.05)
    list(window_pages(fetch, FIRST, LAST, days_per_request=7, in_flight=3))
    assert fetch.most_running == 3


def test_a_failed_request_is_raised_when_its_turn_comes_after_the_pages_before_it():
    fetch = RecordingFetch(fail_on=dt.date(2024, 2, 1))
    seen = []
    with pytest.raises(ConnectionError, match="2024-01-29..2024-02-04"):
        for page in window_pages(fetch, FIRST, LAST, days_per_request=7):
            seen.extend(page)
    assert seen[-1] == dt.date(2024, 1, 28)


def test_a_one_day_window_is_one_request():
    calls = []
    day = dt.date(2024, 3, 1)
    pages = list(window_pages(lambda a, b: calls.append((a, b)) or [[a]], day, day))
    assert calls == [(day, day)] and pages == [[day]]
