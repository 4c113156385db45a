"""Changing a column's type in place, on every warehouse: values kept, indexes kept, and the
catalog then answers the declared type."""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from tidegate.sql import col, create_table, data_type, insert_values, table
from tidegate.warehouse.base import Warehouse


def test_a_wider_type_keeps_values_and_indexes(wh: Warehouse) -> None:
    wh.ensure_schema("core")
    columns = [("id", data_type("integer")), ("amount", data_type("decimal(10,2)"))]
    wh.execute(create_table(table("t", "core"), columns))
    wh.ensure_index("t", "core", "t__key", ["id"])
    wh.execute(insert_values(table("t", "core"), ["id", "amount"], [[1, Decimal("12345678.25")]]))
    indexes = wh.indexes_of("t", "core")

    wider = [("id", data_type("varchar")), ("amount", data_type("decimal(12,2)"))]
    with wh.transaction():
        wh.alter_types("t", "core", wider)

    kinds = wh.column_types("t", "core")
    assert kinds is not None
    for name, kind in wider:
        assert wh.same_type(kinds[name], wh.declared_type(kind)), (name, kinds[name])
    rows = wh.execute(exp.select(col("id"), col("amount")).from_(table("t", "core")))
    assert [(str(i), Decimal(str(a))) for i, a in rows] == [("1", Decimal("12345678.25"))]
    assert wh.indexes_of("t", "core") == indexes
