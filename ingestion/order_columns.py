"""A page of the API's orders as two Arrow tables, column by column: `raw.orders` and its
items, `raw.orders__items`, with the column types declared here rather than inferred.

Converting a whole page at once is the fast path of the order screen (`order_tables.py`); a
value that does not fit raises one of `CONVERSION_ERRORS`, and the screen then walks the page
record by record to find it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The columns dbt reads. Declared rather than inferred, so that an empty page or a null cannot
# change a column's type.
ORDERS_SCHEMA = pa.schema(
    [
        # Not null, like dlt's primary-key column; `_fits` checks it on every page.
        pa.field("id", pa.string(), nullable=False),
        ("customer_id", pa.string()),
        ("store_id", pa.string()),
        # The API sends naive UTC ("2024-03-01T08:15:02"), stored as timestamptz in UTC.
        ("ordered_at", pa.timestamp("us", tz="UTC")),
        ("subtotal", pa.int64()),
        ("tax_paid", pa.int64()),
        ("order_total", pa.int64()),
    ]
)
ITEMS_SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), ("order_id", pa.string()), ("sku", pa.string())]
)
_ITEM = pa.struct(list(ITEMS_SCHEMA))
AMOUNTS = ("subtotal", "tax_paid", "order_total")
# What goes wrong converting Python values to Arrow (ArrowInvalid is a ValueError, ArrowTypeError
# a TypeError; an int beyond int64 is an OverflowError; a non-object has no `.get`).
CONVERSION_ERRORS = (TypeError, ValueError, OverflowError, AttributeError)


def convert_page(records: list) -> tuple[pa.Table, pa.Table, pa.Array, np.ndarray, dict[str, list]]:
    """The orders, their items, for each item the id and the position of the order it was
    listed in, and the records' fields as lists (read once, reused for the content hashes)."""
    fields: dict[str, list] = {}

    def values(name: str) -> list:
        fields[name] = [record.get(name) for record in records]
        return fields[name]

    def integers(name: str) -> pa.Array:
        # Inferred, then checked: asked for int64 outright, Arrow would truncate 12.5 to 12.
        array = pa.array(values(name))
        if pa.types.is_null(array.type):
            return array.cast(pa.int64())
        if array.type != pa.int64():
            raise TypeError(f"{name} holds {array.type}, not integers")
        return array

    ordered_at = pc.cast(pa.array(values("ordered_at"), pa.string()), pa.timestamp("us"))
    orders = pa.Table.from_arrays(
        [
            pa.array(values("id"), pa.string()),
            pa.array(values("customer_id"), pa.string()),
            pa.array(values("store_id"), pa.string()),
            # Arrow keeps instants in UTC, so calling the naive values UTC is only a relabel.
            ordered_at.cast(pa.timestamp("us", tz="UTC")),
            integers("subtotal"),
            integers("tax_paid"),
            integers("order_total"),
        ],
        schema=ORDERS_SCHEMA,
    )
    nested = pa.array(values("items"), pa.list_(_ITEM))
    # StructArray.flatten(), unlike .field(), carries a null item into each of its fields.
    items = pa.Table.from_arrays(nested.flatten().flatten(), schema=ITEMS_SCHEMA)
    parents = pc.list_parent_indices(nested)
    item_parents = pc.take(orders["id"], parents)
    return orders, items, item_parents, parents.to_numpy().astype(np.intp), fields
