"""Small helpers over any ``Engine``: counts, numbers, the temporary relation tree.

The one home of what transform, read, privacy, replay, deliver and scaffold used to take
from ``transform/evaluate.py``.

>>> temp_create("_tg_x", exp.select("1")).sql("duckdb")
'CREATE OR REPLACE TEMPORARY TABLE "_tg_x" AS SELECT 1'
"""

from __future__ import annotations

from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.sql import table


def temp_create(name: str, query: exp.Expr, kind: str = "TABLE") -> exp.Create:
    """``CREATE OR REPLACE TEMPORARY TABLE|VIEW name AS query``."""
    return exp.Create(
        this=table(name),
        kind=kind,
        expression=query,
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def scalar(engine: Engine, query: exp.Expr) -> int:
    """The first value of a query that returns one number."""
    rows = engine.execute(query)
    value = rows[0][0] if rows else None
    return int(value) if isinstance(value, int | float | str) else 0


def count(engine: Engine, name: str) -> int:
    """The rows of one relation."""
    return scalar(engine, exp.select(exp.Count(this=exp.Star())).from_(table(name)))


def first(engine: Engine, query: exp.Expr) -> tuple[object, ...] | None:
    """The first row of a query, or None."""
    rows = engine.execute(query)
    return rows[0] if rows else None
