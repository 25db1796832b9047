"""The reference tables: products, stores and supplies as in jaffle-shop, plus seeded customers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from jaffle_api.keys import random_uuid, seeded_rng

# Store ids must not move when the seed does: a store is the same store in every dataset.
_STORE_NAMESPACE = uuid.UUID("6f1c1f6e-3d0a-4b8e-9a57-2c1e4f0b7a10")


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    type: str
    price: int  # cents
    description: str


@dataclass(frozen=True)
class Store:
    id: str
    name: str
    opened_at: datetime
    tax_rate: float

    @property
    def tax_basis_points(self) -> int:
        # Tax is computed in integers so it rounds half up exactly, as SQL's round() does,
        # and a warehouse check can recompute it to the cent.
        return round(self.tax_rate * 10_000)


@dataclass(frozen=True)
class Supply:
    id: str
    name: str
    cost: int  # cents
    perishable: bool
    sku: str


@dataclass(frozen=True)
class Customer:
    id: str
    name: str


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    stores: tuple[Store, ...]
    supplies: tuple[Supply, ...]
    customers: tuple[Customer, ...]

    def stores_open_on(self, day: date) -> tuple[Store, ...]:
        return tuple(store for store in self.stores if store.opened_at.date() <= day)


PRODUCTS = (
    Product("JAF-001", "nutellaphone who dis?", "jaffle", 1199, "nutella and banana jaffle"),
    Product("JAF-002", "doctor stew", "jaffle", 1199, "house-made beef stew jaffle"),
    Product(
        "JAF-003",
        "the krautback",
        "jaffle",
        1229,
        "lamb and pork bratwurst with house-pickled cabbage sauerkraut and mustard",
    ),
    Product(
        "JAF-004",
        "flame impala",
        "jaffle",
        1449,
        "pulled pork and pineapple al pastor marinated in ghost pepper sauce, "
        "kevin parker's favorite! ",
    ),
    Product(
        "JAF-005",
        "mel-bun",
        "jaffle",
        1279,
        "melon and minced beef bao, in a jaffle, savory and sweet",
    ),
    Product("BEV-001", "tangaroo", "beverage", 699, "mango and tangerine smoothie"),
    Product("BEV-002", "chai and mighty", "beverage", 599, "oatmilk chai latte with protein boost"),
    Product(
        "BEV-003",
        "vanilla ice",
        "beverage",
        699,
        "iced coffee with house-made french vanilla syrup",
    ),
    Product(
        "BEV-004",
        "for richer or pourover ",
        "beverage",
        749,
        "daily selection of single estate beans for a delicious hot pourover",
    ),
    Product(
        "BEV-005",
        "adele-ade",
        "beverage",
        499,
        "a kiwi and lime agua fresca, hello from the other side of thirst",
    ),
)

# (name, tax rate, days after the first day that the store opens). Philadelphia opens on the
# first day so that every day has somewhere to order; the others open over the first two years,
# which gives the marts a store-growth story to tell.
_STORES = (
    ("Philadelphia", 0.06, 0),
    ("Brooklyn", 0.04, 70),
    ("Chicago", 0.0625, 180),
    ("San Francisco", 0.075, 190),
    ("New Orleans", 0.04, 400),
    ("Los Angeles", 0.08, 560),
)

_JAFFLES = ("JAF-001", "JAF-002", "JAF-003", "JAF-004", "JAF-005")
_BEVERAGES = ("BEV-001", "BEV-002", "BEV-003", "BEV-004", "BEV-005")

# (id, name, cost in cents, perishable, skus it goes into). One supply serves several products,
# which is why the raw table's key is (id, sku) and not id alone.
_SUPPLIES = (
    ("SUP-001", "compostable cutlery - knife", 7, False, _JAFFLES),
    ("SUP-002", "cutlery - fork", 7, False, _JAFFLES),
    ("SUP-003", "serving boat", 11, False, _JAFFLES),
    ("SUP-004", "napkin", 4, False, _JAFFLES),
    ("SUP-005", "16oz compostable clear cup", 13, False, _BEVERAGES),
    ("SUP-006", "16oz compostable clear lid", 4, False, _BEVERAGES),
    ("SUP-007", "biodegradable straw", 13, False, _BEVERAGES),
    ("SUP-008", "chai mix", 98, True, ("BEV-002",)),
    ("SUP-009", "bread", 33, True, _JAFFLES),
    ("SUP-010", "cheese", 20, True, ("JAF-002", "JAF-003", "JAF-004", "JAF-005")),
    ("SUP-011", "nutella", 46, True, ("JAF-001",)),
    ("SUP-012", "banana", 13, True, ("JAF-001",)),
    ("SUP-013", "beef stew", 169, True, ("JAF-002",)),
    ("SUP-014", "lamb and pork bratwurst", 234, True, ("JAF-003",)),
    ("SUP-015", "house-pickled cabbage sauerkraut", 43, True, ("JAF-003",)),
    ("SUP-016", "mustard", 7, True, ("JAF-003",)),
    ("SUP-017", "pulled pork", 215, True, ("JAF-004",)),
    ("SUP-018", "pineapple", 26, True, ("JAF-004",)),
    ("SUP-019", "melon", 33, True, ("JAF-005",)),
    ("SUP-020", "minced beef", 124, True, ("JAF-005",)),
    ("SUP-021", "ghost pepper sauce", 20, True, ("JAF-004",)),
    ("SUP-022", "mango", 32, True, ("BEV-001",)),
    ("SUP-023", "tangerine", 20, True, ("BEV-001",)),
    ("SUP-024", "oatmilk", 11, True, ("BEV-002",)),
    ("SUP-025", "whey protein", 36, True, ("BEV-002",)),
    ("SUP-026", "coffee", 52, True, ("BEV-003", "BEV-004")),
    ("SUP-027", "french vanilla syrup", 72, True, ("BEV-003",)),
    ("SUP-028", "kiwi", 20, True, ("BEV-005",)),
    ("SUP-029", "lime", 13, True, ("BEV-005",)),
)

SUPPLIES = tuple(
    Supply(supply_id, name, cost, perishable, sku)
    for supply_id, name, cost, perishable, skus in _SUPPLIES
    for sku in skus
)

_FIRST_NAMES = (
    "Aisha", "Ben", "Carmen", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    "Kate", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara",
    "Umar", "Vera", "Wes", "Xin", "Yara", "Zoe", "Amir", "Bianca", "Caleb", "Daria",
    "Emeka", "Freya", "Gus", "Hana", "Ivan", "June", "Kofi", "Lena", "Marco", "Nina",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Khan", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel", "Quigley", "Rossi", "Silva", "Tanaka",
    "Ueda", "Vargas", "Walsh", "Xu", "Young", "Zimmer", "Novak", "Moreau", "Larsen", "Kowalski",
)  # fmt: skip


def build_catalog(seed: int, first_day: date, customers: int) -> Catalog:
    """The reference tables for one dataset; only customers depend on the seed."""
    return Catalog(
        products=PRODUCTS,
        stores=_stores(first_day),
        supplies=SUPPLIES,
        customers=_customers(seed, customers),
    )


def _stores(first_day: date) -> tuple[Store, ...]:
    opening = datetime.combine(first_day, time())
    return tuple(
        Store(
            id=str(uuid.uuid5(_STORE_NAMESPACE, name)),
            name=name,
            opened_at=opening + timedelta(days=offset),
            tax_rate=tax_rate,
        )
        for name, tax_rate, offset in _STORES
    )


def _customers(seed: int, count: int) -> tuple[Customer, ...]:
    rng = seeded_rng(seed, "customers")
    return tuple(
        Customer(
            id=random_uuid(rng),
            name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
        )
        for _ in range(count)
    )
