"""The `/api/v1` endpoints: paged listings and lookups by key, answered with prebuilt JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from jaffle_api import schemas
from jaffle_api.catalog import Catalog
from jaffle_api.generator import OrderBook
from jaffle_api.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, next_link, window

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_PAGE = Query(1, ge=1, description="1-based page number; follow the Link header instead.")
_PAGE_SIZE = Query(
    DEFAULT_PAGE_SIZE, ge=1, description=f"Rows per page, served at most {MAX_PAGE_SIZE}."
)
_NOT_FOUND = {404: {"model": schemas.Detail, "description": "No row with this key."}}


@dataclass(frozen=True)
class _Table:
    """A reference table, serialised once: rows in serving order and the first row per key."""

    rows: tuple[bytes, ...]
    by_key: dict[str, bytes]


def data_router(catalog: Catalog, book: OrderBook, latest_day: Callable[[], date]) -> APIRouter:
    """All data endpoints over one catalog and order book; `latest_day` is asked per request
    so a long-running server starts serving a new day at midnight UTC."""
    router = APIRouter()
    for name, records, key, model in (
        ("customers", catalog.customers, "id", schemas.Customer),
        ("products", catalog.products, "sku", schemas.Product),
        ("stores", catalog.stores, "id", schemas.Store),
        ("supplies", catalog.supplies, "id", schemas.Supply),
    ):
        _add_reference_table(router, name, _serialise(records, key), key, model)

    @router.get(
        "/orders",
        tags=["orders"],
        response_model=None,
        responses={200: {"model": list[schemas.Order]}, 422: {"model": schemas.Detail}},
    )
    async def list_orders(
        request: Request,
        page: int = _PAGE,
        page_size: int = _PAGE_SIZE,
        start_date: str | None = Query(None, description="First day (YYYY-MM-DD), included."),
        end_date: str | None = Query(None, description="Last day (YYYY-MM-DD), included."),
    ) -> Response:
        """Orders with their items, by (ordered_at, id); dates filter on `ordered_at::date`."""
        latest = latest_day()
        first = _parse_day("start_date", start_date) or book.first_day
        last = min(_parse_day("end_date", end_date) or latest, latest)
        offset, limit = window(page, page_size)
        rows, total = book.page("orders", first, last, offset, limit)
        return _page_response(request, rows, offset + len(rows) < total, page)

    @router.get("/orders/{order_id}", tags=["orders"], response_model=None, responses=_NOT_FOUND)
    async def get_order(order_id: str) -> Response:
        return _found(book.find("orders", order_id, latest_day()), "order", order_id)

    @router.get(
        "/items",
        tags=["items"],
        response_model=None,
        responses={200: {"model": list[schemas.Item]}},
    )
    async def list_items(
        request: Request, page: int = _PAGE, page_size: int = _PAGE_SIZE
    ) -> Response:
        """Order items, in the order of their orders."""
        offset, limit = window(page, page_size)
        rows, total = book.page("items", book.first_day, latest_day(), offset, limit)
        return _page_response(request, rows, offset + len(rows) < total, page)

    @router.get("/items/{item_id}", tags=["items"], response_model=None, responses=_NOT_FOUND)
    async def get_item(item_id: str) -> Response:
        return _found(book.find("items", item_id, latest_day()), "item", item_id)

    @router.get(
        "/row-counts",
        tags=["row counts"],
        response_model=None,
        responses={200: {"model": list[schemas.RowCount]}},
    )
    async def row_counts() -> Response:
        """Rows per table, for reconciling a load against the source."""
        latest = latest_day()
        counts = {
            "customers": len(catalog.customers),
            "items": book.total("items", book.first_day, latest),
            "orders": book.total("orders", book.first_day, latest),
            "products": len(catalog.products),
            "stores": len(catalog.stores),
            "supplies": len(catalog.supplies),
        }
        body = [{"table_name": name, "row_count": count} for name, count in counts.items()]
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    return router


def _add_reference_table(
    router: APIRouter, name: str, table: _Table, key_field: str, model: type
) -> None:
    async def list_rows(
        request: Request, page: int = _PAGE, page_size: int = _PAGE_SIZE
    ) -> Response:
        offset, limit = window(page, page_size)
        rows = table.rows[offset : offset + limit]
        return _page_response(request, rows, offset + limit < len(table.rows), page)

    async def get_row(key: str = Path(alias=key_field)) -> Response:
        return _found(table.by_key.get(key), name.removesuffix("s"), key)

    router.add_api_route(
        f"/{name}",
        list_rows,
        tags=[name],
        name=f"list_{name}",
        response_model=None,
        responses={200: {"model": list[model]}},
    )
    router.add_api_route(
        f"/{name}/{{{key_field}}}",
        get_row,
        tags=[name],
        name=f"get_{name}",
        description=f"One row by `{key_field}`"
        + (" (the first match)." if name == "supplies" else "."),
        response_model=None,
        responses={200: {"model": model}, **_NOT_FOUND},
    )


def _serialise(records: Iterable[object], key: str) -> _Table:
    rows, by_key = [], {}
    for record in records:
        fields = asdict(record)
        row = json.dumps(fields, separators=(",", ":"), default=_isoformat).encode()
        rows.append(row)
        by_key.setdefault(fields[key], row)
    return _Table(tuple(rows), by_key)


def _isoformat(value: date) -> str:
    return value.isoformat()


def _page_response(request: Request, rows: Sequence[bytes], more: bool, page: int) -> Response:
    headers = {}
    if more:
        headers["Link"] = next_link(request.url.path, request.query_params.multi_items(), page)
    return Response(b"[" + b",".join(rows) + b"]", media_type="application/json", headers=headers)


def _found(row: bytes | None, what: str, key: str) -> Response:
    if row is None:
        raise HTTPException(status_code=404, detail=f"No {what} with key {key!r}.")
    return Response(row, media_type="application/json")


def _parse_day(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            status_code=422, detail=f"{name} must be a date as YYYY-MM-DD, got {value!r}."
        ) from None
