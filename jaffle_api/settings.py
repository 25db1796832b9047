"""Every knob of the stand-in API, read from environment variables in one place."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

API_PREFIX = "/api/v1"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """How the stand-in serves, what data it makes and which faults it injects.

    Environment variables (all optional; the defaults run locally with no faults):

    - `API_HOST` (127.0.0.1), `API_PORT` (8000): where `python -m jaffle_api` listens.
    - `JAFFLE_API_SEED` (42): seed of all generated data; the same seed and day always give
      the same customers, orders and items.
    - `JAFFLE_API_ORDERS_PER_DAY` (170): mean orders a day, close to the public API; each day
      varies around it by weekday and by +/-20%. Benchmarks raise it 10x or 100x.
    - `JAFFLE_API_CUSTOMERS` (935): size of the customer set, as in jaffle-shop's raw data.
    - `JAFFLE_API_FIRST_DAY` (2024-01-01): no orders before it; the first store opens on it.
    - `JAFFLE_API_LAST_DAY` (unset: today, UTC): last day with orders. Pin it to make the
      unfiltered `/orders` and `/items` listings reproducible.
    - `JAFFLE_API_FAULT_SEED` (0): seed of the fault draws, one draw per data request in
      arrival order, so a run of faults can be replayed.
    - `JAFFLE_API_ERROR_RATE` (0): share of data requests that fail transiently, either a
      500/502/503 or a connection reset halfway through the body.
    - `JAFFLE_API_RATE_LIMIT_RATE` (0): share of data requests answered 429 with Retry-After.
    - `JAFFLE_API_RETRY_AFTER_S` (1): the Retry-After value, in seconds.
    - `JAFFLE_API_LATENCY_MS` (0): delay added to every data request.
    - `JAFFLE_API_OUTAGE` (false): when true, every data request gets 503.
    - `JAFFLE_API_MALFORMED_RATE` (0): share of each day's orders served as malformed variants
      in `/orders` (and `/orders/{id}`), kinds cycled per day: a missing id, text in a number,
      an unparseable timestamp, an impossible one, a negative amount, an item with an unknown
      sku, and a second record reusing an order's id with other totals. Which orders, and how,
      depends only on `JAFFLE_API_FAULT_SEED` and the day (not on requests or paging);
      `jaffle_api.order_book.malformed_orders(settings, day)` lists them.
    - `JAFFLE_API_REVISED_DAYS` (unset): comma-separated days (YYYY-MM-DD) whose orders are
      served revised, as late data: same ids, customers and times, other baskets, with totals
      that follow from the new items.
    - `JAFFLE_API_REVISION` (1): which revision of those days is served; each number gives
      other baskets, 0 gives the original data.

    Faults touch only the `/api/v1` data endpoints; `/health`, `/info` and `/docs` always work.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 42
    orders_per_day: int = 170
    customers: int = 935
    first_day: date = date(2024, 1, 1)
    last_day: date | None = None
    fault_seed: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_s: int = 1
    latency_ms: int = 0
    outage: bool = False
    malformed_rate: float = 0.0
    revised_days: tuple[date, ...] = ()
    revision: int = 1

    def __post_init__(self) -> None:
        # Fail at start-up with the variable's meaning, not later with a confusing response.
        for name in ("error_rate", "rate_limit_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("orders_per_day", "customers", "retry_after_s", "latency_ms", "revision"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.customers == 0 and self.orders_per_day > 0:
            raise ValueError("orders need customers: set JAFFLE_API_CUSTOMERS above 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (default: the process environment); unset or empty
        variables keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def read(name: str, parse: Callable[[str], Any], default: Any) -> Any:
            value = env.get(name, "").strip()
            if not value:
                return default
            try:
                return parse(value)
            except ValueError as error:
                raise ValueError(f"{name}={value!r} is not valid: {error}") from None

        return cls(
            host=read("API_HOST", str, defaults.host),
            port=read("API_PORT", int, defaults.port),
            seed=read("JAFFLE_API_SEED", int, defaults.seed),
            orders_per_day=read("JAFFLE_API_ORDERS_PER_DAY", int, defaults.orders_per_day),
            customers=read("JAFFLE_API_CUSTOMERS", int, defaults.customers),
            first_day=read("JAFFLE_API_FIRST_DAY", date.fromisoformat, defaults.first_day),
            last_day=read("JAFFLE_API_LAST_DAY", date.fromisoformat, defaults.last_day),
            fault_seed=read("JAFFLE_API_FAULT_SEED", int, defaults.fault_seed),
            error_rate=read("JAFFLE_API_ERROR_RATE", float, defaults.error_rate),
            rate_limit_rate=read("JAFFLE_API_RATE_LIMIT_RATE", float, defaults.rate_limit_rate),
            retry_after_s=read("JAFFLE_API_RETRY_AFTER_S", int, defaults.retry_after_s),
            latency_ms=read("JAFFLE_API_LATENCY_MS", int, defaults.latency_ms),
            outage=read("JAFFLE_API_OUTAGE", _flag, defaults.outage),
            malformed_rate=read("JAFFLE_API_MALFORMED_RATE", float, defaults.malformed_rate),
            revised_days=read("JAFFLE_API_REVISED_DAYS", _days, defaults.revised_days),
            revision=read("JAFFLE_API_REVISION", int, defaults.revision),
        )

    @property
    def api_url(self) -> str:
        """The base URL runs read this stand-in at: JAFFLE_API_URL's value under `make dev`."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    def latest_day(self) -> date:
        """The last day served: pinned by `last_day`, else today in UTC, read per request."""
        return self.last_day or datetime.now(UTC).date()


def _days(value: str) -> tuple[date, ...]:
    return tuple(sorted({date.fromisoformat(day.strip()) for day in value.split(",") if day}))


def _flag(value: str) -> bool:
    value = value.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")
