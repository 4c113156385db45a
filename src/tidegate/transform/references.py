"""References between targets: a transaction's customer must exist.

The distinct referenced values of a file are looked up in the warehouse in one query per
reference (the caller supplies the look-up), then the rows whose values were not found
join the file's bad rows, set-wise. When the file itself also yields the parent target
(orders and their unnested lines), the parent rows of the file count as well, unless
their record is already bad: they load in the same transaction as the children.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pyarrow as pa
from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.config.models import Reference, TargetConfig
from tidegate.sql import col, lit, table
from tidegate.transform.mapping import REASONS, ROW
from tidegate.transform.rules import reason_struct

Values = list[tuple[object, ...]]
Lookup = Callable[[Reference, Values], set[tuple[object, ...]]]
FOUND = "_tg_found"
PENDING = "_tg_pending"


def _distinct_values(con: Engine, rows: str, reference: Reference) -> Values:
    """Every referenced value of the file, bad rows included, so each row gets every reason."""
    present = [exp.not_(col(c).is_(exp.null())) for c in reference.columns]
    query = (
        exp.select(*[col(c) for c in reference.columns])
        .distinct()
        .from_(table(rows))
        .where(exp.and_(*present))
    )
    return [tuple(r) for r in con.execute(query)]


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


def _in_file(
    con: Engine,
    reference: Reference,
    parent: TargetConfig,
    parent_rows: str,
    dropped: exp.Query,
    values: Values,
) -> set[tuple[object, ...]]:
    """The ``values`` that the file's own rows of the parent target hold, outside the
    ``dropped`` records."""
    columns = reference.target_columns or reference.columns
    if not set(columns) <= set(parent.columns) or not values:
        return set()
    present = [exp.not_(col(c).is_(exp.null())) for c in columns]
    query = (
        exp.select(*[exp.cast(col(c), "varchar") for c in columns])
        .distinct()
        .from_(table(parent_rows))
        .where(exp.and_(*present))
        .where(exp.not_(col(ROW).isin(query=dropped)))
    )
    held = {tuple(r) for r in con.execute(query)}
    return {v for v in values if tuple(str(x) for x in v) in held}


def _missing(
    con: Engine,
    rows: str,
    output_target: str,
    reference: Reference,
    found: set[tuple[object, ...]],
    into: str | None,
) -> set[int]:
    """The records whose values are not ``found``; with ``into``, added to that bad table."""
    con.register(FOUND, _found_table(found, len(reference.columns)))
    try:
        missing = _missing_rows(rows, output_target, reference)
        if into is not None:
            con.execute(exp.insert(missing, table(into)))
            return set()
        query = exp.select(col(ROW)).distinct().from_(missing.subquery("_tg_missing"))
        return {int(r[0]) for r in con.execute(query)}
    finally:
        con.unregister(FOUND)


def _settled(
    con: Engine,
    rows: str,
    output_target: str,
    reference: Reference,
    found: set[tuple[object, ...]],
    sibling: tuple[TargetConfig, str],
    bad: str,
    values: Values,
) -> set[tuple[object, ...]]:
    """What exists once the file's own parents are counted, to a fixed point: a parent
    whose record fails this very check does not load, so its children fail too."""
    parent, parent_rows = sibling
    failing: set[int] = set()
    while True:
        pending = pa.table({ROW: pa.array(sorted(failing), pa.int64())})
        con.register(PENDING, pending)
        try:
            dropped = exp.union(
                exp.select(col(ROW)).from_(table(bad)), exp.select(col(ROW)).from_(table(PENDING))
            )
            held = found | _in_file(con, reference, parent, parent_rows, dropped, values)
        finally:
            con.unregister(PENDING)
        now = _missing(con, rows, output_target, reference, held, None)
        if now <= failing:
            return held
        failing |= now


def check_references(
    con: Engine,
    rows: str,
    output_target: str,
    target: TargetConfig,
    bad: str,
    lookup: Lookup,
    same_file: Mapping[str, tuple[TargetConfig, str]] | None = None,
) -> None:
    """Add rows whose referenced values do not exist to the ``bad`` table.

    ``same_file``: the file's outputs, target name to (its config, its rows table); a value
    that a good record of the file gives the parent exists as much as one in the warehouse.
    """
    for reference in target.references:
        values = _distinct_values(con, rows, reference)
        found = lookup(reference, values) if values else set()
        sibling = (same_file or {}).get(reference.target)
        if sibling is not None:
            found = _settled(con, rows, output_target, reference, found, sibling, bad, values)
        _missing(con, rows, output_target, reference, found, bad)
