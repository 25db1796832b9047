"""Assembles the stand-in: data endpoints under /api/v1, fault injection, health and info."""

from __future__ import annotations

from fastapi import FastAPI

from jaffle_api.faults import FaultInjector
from jaffle_api.order_book import order_book
from jaffle_api.routes import data_router
from jaffle_api.settings import API_PREFIX, Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The stand-in API for `settings` (default: read from the environment)."""
    settings = settings or Settings.from_env()
    book = order_book(settings)
    catalog = book.catalog

    app = FastAPI(
        title="jaffle-shop API (local stand-in)",
        description=(
            "Serves the paths, paging and records of https://jaffle-shop.dlthub.com/api/v1 "
            "from data generated per day from a seed. Money is in integer cents."
        ),
        version="1",
    )
    app.include_router(data_router(catalog, book, settings.latest_day), prefix=API_PREFIX)
    # Outside the fault zone, so a client can tell "the API is flaky" from "the API is gone".
    app.add_middleware(FaultInjector, settings=settings, prefix=API_PREFIX)

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        """Always 200 while the process runs, whatever faults are switched on."""
        return {"status": "ok"}

    @app.get("/info", tags=["service"])
    async def info() -> dict[str, object]:
        """Which data this server serves: its seed, volume and range of days."""
        return {
            "first_day": settings.first_day.isoformat(),
            "latest_day": settings.latest_day().isoformat(),
            "seed": settings.seed,
            "orders_per_day": settings.orders_per_day,
        }

    return app
