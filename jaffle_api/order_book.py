"""The orders and items a stand-in serves: a pure function of its settings (and the day)."""

from __future__ import annotations

from datetime import date

from jaffle_api.catalog import build_catalog
from jaffle_api.generator import OrderBook
from jaffle_api.malformed import MalformedOrder
from jaffle_api.settings import Settings


def order_book(settings: Settings) -> OrderBook:
    """The orders and items that `settings` serve, malformed records and revisions included."""
    catalog = build_catalog(settings.seed, settings.first_day, settings.customers)
    return OrderBook(
        catalog,
        settings.seed,
        settings.orders_per_day,
        settings.first_day,
        malformed_rate=settings.malformed_rate,
        fault_seed=settings.fault_seed,
        revised_days=settings.revised_days,
        revision=settings.revision,
    )


def malformed_orders(settings, day: date) -> tuple[MalformedOrder, ...]:
    """The malformed records the stand-in with `settings` serves for `day`.

    Builds the day's orders the way the server does: a pure function of the settings and the day.
    """
    return order_book(settings).malformed_on(day)
