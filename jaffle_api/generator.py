"""Orders and items, generated one day at a time from the seed and never stored.

A day's volume comes from its own small generator, so counting rows over years costs a hash
per day, and only the days a page actually touches are generated (and kept in a small cache).
"""

from __future__ import annotations

import functools
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Literal

from jaffle_api.catalog import Catalog
from jaffle_api.keys import day_of, day_uuid, seeded_rng
from jaffle_api.malformed import DUPLICATE, MalformedOrder, break_order, malformed_plan

Table = Literal["orders", "items"]

# Busier at the weekend, quieter early in the week; Monday first, averaging 1.
_WEEKDAY_FACTOR = (0.9, 0.9, 0.95, 1.0, 1.1, 1.15, 1.0)
# Opening hours 07:00-21:59, with breakfast and lunch rushes.
_HOURS = tuple(range(7, 22))
_HOUR_CUM_WEIGHTS = tuple(accumulate((4, 9, 7, 5, 8, 10, 8, 5, 4, 4, 5, 5, 4, 3, 2)))
_MAX_BASKET = 4
# Jaffles sell a little better than drinks.
_WEIGHT_BY_TYPE = {"jaffle": 3, "beverage": 2}
# Days of rows kept in memory: enough for a few concurrent partitions, small at 100x volume.
_CACHED_DAYS = 16


@dataclass(frozen=True)
class DayRows:
    """One day's orders and items, in serving order, each pre-serialised as compact JSON."""

    order_ids: tuple[str, ...]
    orders: tuple[bytes, ...]
    item_ids: tuple[str, ...]
    items: tuple[bytes, ...]


_NO_ROWS = DayRows((), (), (), ())


class OrderBook:
    """Every order and item from `first_day` on, for one seed and volume, with the malformed
    records and revised days that the settings ask for (see `jaffle_api.settings`)."""

    def __init__(
        self,
        catalog: Catalog,
        seed: int,
        orders_per_day: int,
        first_day: date,
        *,
        malformed_rate: float = 0.0,
        fault_seed: int = 0,
        revised_days: tuple[date, ...] = (),
        revision: int = 0,
    ):
        self.first_day = first_day
        self.catalog = catalog
        self._catalog = catalog
        self._seed = seed
        self._orders_per_day = orders_per_day
        self._malformed_rate = malformed_rate
        self._fault_seed = fault_seed
        self._revision = revision
        self._revised_days = frozenset(revised_days) if revision else frozenset()
        self._customer_ids = tuple(customer.id for customer in catalog.customers)
        self._skus = tuple(product.sku for product in catalog.products)
        self._sku_cum_weights = tuple(
            accumulate(_WEIGHT_BY_TYPE[product.type] for product in catalog.products)
        )
        self._price = {product.sku: product.price for product in catalog.products}
        # Per-instance caches, so two books (two seeds) in one process never share rows.
        self.volume = functools.cache(self._volume)
        self.rows_on = functools.lru_cache(maxsize=_CACHED_DAYS)(self._rows_on)
        self._cumulative = functools.lru_cache(maxsize=256)(self._cumulative_counts)

    def _volume(self, day: date) -> tuple[int, int]:
        """(orders, items) served on `day`, drawn without generating the day's rows (but for
        a revised day, whose baskets change its item count)."""
        orders, items = self._generated_volume(day)
        if day in self._revised_days:
            items = len(self.rows_on(day).items)
        if self._malformed_rate:
            orders += sum(
                kind == DUPLICATE
                for _, kind in malformed_plan(orders, self._malformed_rate, self._fault_seed, day)
            )
        return orders, items

    def malformed_on(self, day: date) -> tuple[MalformedOrder, ...]:
        """The malformed records served for `day` (none when the rate is 0)."""
        plan = self._plan(day)
        if not plan:
            return ()
        ids = self._generated_order_ids(day)
        return tuple(MalformedOrder(position, ids[position], kind) for position, kind in plan)

    def _plan(self, day: date) -> list[tuple]:
        if not self._malformed_rate:
            return []
        orders, _ = self._generated_volume(day)
        return malformed_plan(orders, self._malformed_rate, self._fault_seed, day)

    def _generated_volume(self, day: date) -> tuple[int, int]:
        """(orders, items) the day's generator makes, before any fault or revision."""
        if day < self.first_day:
            return 0, 0
        rng = seeded_rng(self._seed, "volume", day.isoformat())
        jitter = rng.uniform(0.8, 1.2)
        orders = round(self._orders_per_day * _WEEKDAY_FACTOR[day.weekday()] * jitter)
        # About half an extra item per order: 1.5 items on average, as in jaffle-shop.
        items = orders + round(orders * rng.uniform(0.4, 0.6))
        return orders, items

    def total(self, table: Table, first: date, last: date) -> int:
        """How many rows of `table` fall on days first..last, both included."""
        return self._counts(table, first, last)[-1]

    def page(
        self, table: Table, first: date, last: date, offset: int, limit: int
    ) -> tuple[list[bytes], int]:
        """Rows offset..offset+limit of `table` over days first..last, and the range's total."""
        first = max(first, self.first_day)
        counts = self._counts(table, first, last)
        days = len(counts) - 1
        # The last day whose preceding rows don't pass the offset holds the page's first row;
        # bisect_right steps over empty days.
        index = bisect_right(counts, offset) - 1
        skip = offset - counts[index] if index < days else 0
        rows: list[bytes] = []
        while len(rows) < limit and index < days:
            day_rows = getattr(self.rows_on(first + timedelta(days=index)), table)
            rows.extend(day_rows[skip : skip + limit - len(rows)])
            skip = 0
            index += 1
        return rows, counts[-1]

    def find(self, table: Table, key: str, last: date) -> bytes | None:
        """The row of `table` with id `key`, if it exists on a served day."""
        day = day_of(key)
        if day is None or not self.first_day <= day <= last:
            return None
        rows = self.rows_on(day)
        ids, records = (
            (rows.order_ids, rows.orders) if table == "orders" else (rows.item_ids, rows.items)
        )
        try:
            return records[ids.index(key)]
        except ValueError:
            return None

    def _counts(self, table: Table, first: date, last: date) -> tuple[int, ...]:
        first = max(first, self.first_day)
        orders, items = self._cumulative(first, last)
        return orders if table == "orders" else items

    def _cumulative_counts(
        self, first: date, last: date
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Running totals of orders and items before each day of first..last, then the total."""
        volumes = [self.volume(first + timedelta(days=i)) for i in range((last - first).days + 1)]
        orders = tuple(accumulate((v[0] for v in volumes), initial=0))
        items = tuple(accumulate((v[1] for v in volumes), initial=0))
        return orders, items

    def _rows_on(self, day: date) -> DayRows:
        generated = self._generate(day)
        plan = self._plan(day)
        if not plan:
            return generated
        order_ids, orders = list(generated.order_ids), list(generated.orders)
        # From the last, so that a duplicate's extra record does not shift later positions.
        for position, kind in reversed(plan):
            served = break_order(orders[position], kind)
            orders[position : position + 1] = served
            order_ids[position : position + 1] = [order_ids[position]] * len(served)
        return DayRows(tuple(order_ids), tuple(orders), generated.item_ids, generated.items)

    def _generated_order_ids(self, day: date) -> tuple[str, ...]:
        return self._generate(day).order_ids

    def _generate(self, day: date) -> DayRows:
        order_count, item_count = self._generated_volume(day)
        if order_count == 0:
            return _NO_ROWS
        rng = seeded_rng(self._seed, "orders", day.isoformat())
        stores = [(s.id, s.tax_basis_points) for s in self._catalog.stores_open_on(day)]
        customers = self._customer_ids
        hours = rng.choices(_HOURS, cum_weights=_HOUR_CUM_WEIGHTS, k=order_count)
        seconds = [hour * 3600 + int(rng.random() * 3600) for hour in hours]
        sizes = _basket_sizes(rng, order_count, item_count)
        skus = rng.choices(self._skus, cum_weights=self._sku_cum_weights, k=item_count)
        price = self._price

        orders = []
        item_index = 0
        for index in range(order_count):
            order_id = day_uuid(rng, day, index)
            # Squaring skews towards the first customers: a few regulars and a long tail.
            customer_id = customers[int(len(customers) * rng.random() ** 2)]
            store_id, tax_basis_points = stores[int(len(stores) * rng.random())]
            basket = skus[item_index : item_index + sizes[index]]
            items = [(day_uuid(rng, day, item_index + j), sku) for j, sku in enumerate(basket)]
            item_index += len(basket)
            subtotal = sum(price[sku] for sku in basket)
            tax_paid = (subtotal * tax_basis_points + 5_000) // 10_000
            orders.append(
                (seconds[index], order_id, customer_id, store_id, subtotal, tax_paid, items)
            )
        if day in self._revised_days:
            orders = self._revise(day, orders, dict(stores))
        # Served by (ordered_at, id) so pagination is stable across requests.
        orders.sort(key=lambda order: (order[0], order[1]))
        return _serialise(day.isoformat(), orders)

    def _revise(self, day: date, orders: list[tuple], tax_of: dict[str, int]) -> list[tuple]:
        """Late data: the same orders (ids, customers, stores, times) with other baskets, and
        totals that follow from them. Item ids are new, as a source re-issuing a basket would."""
        rng = seeded_rng(self._seed, "revision", self._revision, day.isoformat())
        revised, item_index = [], 0
        for second, order_id, customer_id, store_id, _, _, _ in orders:
            size = rng.choice((1, 1, 2, 2, 3, 4))
            basket = rng.choices(self._skus, cum_weights=self._sku_cum_weights, k=size)
            items = [(day_uuid(rng, day, item_index + j), sku) for j, sku in enumerate(basket)]
            item_index += size
            subtotal = sum(self._price[sku] for sku in basket)
            tax_paid = (subtotal * tax_of[store_id] + 5_000) // 10_000
            revised.append((second, order_id, customer_id, store_id, subtotal, tax_paid, items))
        return revised


def _basket_sizes(rng: random.Random, orders: int, items: int) -> list[int]:
    """Items per order, 1 to 4, summing to `items`: spreading the extras at random gives the
    long tail of real baskets (mostly one item, a few of three or four)."""
    sizes = [1] * orders
    extra = items - orders
    while extra:
        index = int(orders * rng.random())
        if sizes[index] < _MAX_BASKET:
            sizes[index] += 1
            extra -= 1
    return sizes


def _serialise(iso_day: str, orders: list[tuple]) -> DayRows:
    # Formatted by hand: every value is an id, a sku, a timestamp or an integer, none needing
    # escapes, and this is several times faster than json.dumps on dicts.
    order_ids, order_json, item_ids, item_json = [], [], [], []
    for second, order_id, customer_id, store_id, subtotal, tax_paid, items in orders:
        ordered_at = f"{iso_day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        item_records = [
            f'{{"id":"{item_id}","order_id":"{order_id}","sku":"{sku}"}}' for item_id, sku in items
        ]
        order_ids.append(order_id)
        order_json.append(
            (
                f'{{"id":"{order_id}","customer_id":"{customer_id}","store_id":"{store_id}",'
                f'"ordered_at":"{ordered_at}","subtotal":{subtotal},"tax_paid":{tax_paid},'
                f'"order_total":{subtotal + tax_paid},"items":[{",".join(item_records)}]}}'
            ).encode()
        )
        item_ids.extend(item_id for item_id, _ in items)
        item_json.extend(record.encode() for record in item_records)
    return DayRows(tuple(order_ids), tuple(order_json), tuple(item_ids), tuple(item_json))
