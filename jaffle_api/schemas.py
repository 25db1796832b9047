"""Record shapes, declared for the OpenAPI docs only.

Responses are built as JSON bytes directly (see generator.py): validating tens of thousands of
records a second through these models would make the stand-in the bottleneck of ingestion.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Customer(BaseModel):
    id: str = Field(description="uuid")
    name: str


class Item(BaseModel):
    id: str = Field(description="uuid")
    order_id: str = Field(description="uuid of the order")
    sku: str = Field(description="product sku, e.g. JAF-001")


class Order(BaseModel):
    id: str = Field(description="uuid")
    customer_id: str
    store_id: str
    ordered_at: str = Field(description="naive UTC timestamp, e.g. 2024-03-01T08:15:02")
    subtotal: int = Field(description="cents: the sum of the items' product prices")
    tax_paid: int = Field(description="cents: subtotal times the store's tax rate, half up")
    order_total: int = Field(description="cents: subtotal + tax_paid")
    items: list[Item]


class Product(BaseModel):
    sku: str
    name: str
    type: str = Field(description="jaffle or beverage")
    price: int = Field(description="cents")
    description: str


class Store(BaseModel):
    id: str = Field(description="uuid")
    name: str
    opened_at: str = Field(description="naive timestamp")
    tax_rate: float


class Supply(BaseModel):
    id: str = Field(description="not unique alone: the key is (id, sku)")
    name: str
    cost: int = Field(description="cents")
    perishable: bool
    sku: str


class RowCount(BaseModel):
    table_name: str
    row_count: int


class Detail(BaseModel):
    detail: str
