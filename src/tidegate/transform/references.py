"""References between targets: a transaction's customer must exist.

The distinct referenced values of a file are looked up in the warehouse in one query per
reference (the caller supplies the look-up), then the rows whose values were not found
join the file's bad rows, set-wise.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa
from sqlglot import exp

from tidegate.config.models import Reference, TargetConfig
from tidegate.sql import col, lit, table
from tidegate.transform.mapping import REASONS, ROW

Values = list[tuple[object, ...]]
Lookup = Callable[[Reference, Values], set[tuple[object, ...]]]
FOUND = "_tg_found"


def _distinct_values(
    con: duckdb.DuckDBPyConnection, rows: str, reference: Reference, bad: str
) -> Values:
    present = [exp.not_(col(c).is_(exp.null())) for c in reference.columns]
    query = (
        exp.select(*[col(c) for c in reference.columns])
        .distinct()
        .from_(table(rows))
        .where(exp.and_(*present))
        .where(exp.not_(col(ROW).isin(query=exp.select(col(ROW)).from_(table(bad)))))
    )
    return [tuple(r) for r in con.execute(query.sql(dialect="duckdb")).fetchall()]


def _reason(reference: Reference) -> exp.Expr:
    parent = reference.target_columns or reference.columns
    where = f"{reference.target}.{', '.join(parent)}"
    value = exp.func(
        "concat_ws", lit(", "), *[exp.cast(col(c), "varchar") for c in reference.columns]
    )
    fields = {
        "rule": lit("reference"),
        "column": lit(", ".join(reference.columns)),
        "value": value,
        "message": lit(f"not found in {where}"),
    }
    struct = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(k), expression=v) for k, v in fields.items()
        ]
    )
    return exp.Array(expressions=[struct])


def check_references(
    con: duckdb.DuckDBPyConnection,
    rows: str,
    output_target: str,
    target: TargetConfig,
    bad: str,
    lookup: Lookup,
) -> None:
    """Add rows whose referenced values do not exist to the ``bad`` table."""
    for reference in target.references:
        values = _distinct_values(con, rows, reference, bad)
        found = lookup(reference, values) if values else set()
        names = [f"_tg_v{i}" for i in range(len(reference.columns))]
        arrays = [pa.array([v[i] for v in found]) for i in range(len(names))] if found else []
        con.register(
            FOUND,
            pa.table(arrays, names=names)
            if found
            else pa.table({n: pa.array([], pa.string()) for n in names}),
        )
        try:
            matched = (
                exp.select(exp.Literal.number(1))
                .from_(table(FOUND))
                .where(
                    exp.and_(
                        *[
                            exp.cast(col(n, FOUND), "varchar").eq(
                                exp.cast(col(c, "_tg_rows"), "varchar")
                            )
                            for n, c in zip(names, reference.columns, strict=True)
                        ]
                    )
                )
            )
            missing = (
                exp.select(
                    col(ROW),
                    exp.alias_(lit(output_target), "target", quoted=True),
                    exp.alias_(_reason(reference), REASONS, quoted=True),
                )
                .from_(exp.alias_(table(rows), "_tg_rows"))
                .where(exp.and_(*[exp.not_(col(c).is_(exp.null())) for c in reference.columns]))
                .where(exp.not_(exp.Exists(this=matched)))
            )
            con.execute(exp.insert(missing, table(bad)).sql(dialect="duckdb"))
        finally:
            con.unregister(FOUND)
