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
from tidegate.transform.rules import reason_struct

Values = list[tuple[object, ...]]
Lookup = Callable[[Reference, Values], set[tuple[object, ...]]]
FOUND = "_tg_found"


def _distinct_values(con: duckdb.DuckDBPyConnection, rows: str, reference: Reference) -> Values:
    """Every referenced value of the file, bad rows included, so each row gets every reason."""
    present = [exp.not_(col(c).is_(exp.null())) for c in reference.columns]
    query = (
        exp.select(*[col(c) for c in reference.columns])
        .distinct()
        .from_(table(rows))
        .where(exp.and_(*present))
    )
    return [tuple(r) for r in con.execute(query.sql(dialect="duckdb")).fetchall()]


def _reason(reference: Reference) -> exp.Expr:
    parent = reference.target_columns or reference.columns
    where = f"{reference.target}.{', '.join(parent)}"
    value = exp.func(
        "concat_ws", lit(", "), *[exp.cast(col(c), "varchar") for c in reference.columns]
    )
    message = lit(f"not found in {where}")
    return exp.Array(
        expressions=[reason_struct("reference", ", ".join(reference.columns), value, message)]
    )


def _found_table(found: set[tuple[object, ...]], width: int) -> pa.Table:
    """The values that exist, as text columns ``_tg_v0``, ``_tg_v1``..."""
    return pa.table(
        {f"_tg_v{i}": pa.array([str(v[i]) for v in found], pa.string()) for i in range(width)}
    )


def _missing_rows(rows: str, target_name: str, reference: Reference) -> exp.Select:
    """Rows with a referenced value that is not among the found ones."""
    same = [
        col(f"_tg_v{i}", FOUND).eq(exp.cast(col(c, "_tg_rows"), "varchar"))
        for i, c in enumerate(reference.columns)
    ]
    matched = exp.select(exp.Literal.number(1)).from_(table(FOUND)).where(exp.and_(*same))
    present = [exp.not_(col(c).is_(exp.null())) for c in reference.columns]
    return (
        exp.select(
            col(ROW),
            exp.alias_(lit(target_name), "target", quoted=True),
            exp.alias_(_reason(reference), REASONS, quoted=True),
        )
        .from_(exp.alias_(table(rows), "_tg_rows"))
        .where(exp.and_(*present))
        .where(exp.not_(exp.Exists(this=matched)))
    )


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
        values = _distinct_values(con, rows, reference)
        found = lookup(reference, values) if values else set()
        con.register(FOUND, _found_table(found, len(reference.columns)))
        try:
            missing = _missing_rows(rows, output_target, reference)
            con.execute(exp.insert(missing, table(bad)).sql(dialect="duckdb"))
        finally:
            con.unregister(FOUND)
