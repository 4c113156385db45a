"""Which referenced key values already exist in a target (for ``references`` rules)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from tidegate.config.models import Reference
from tidegate.sql import col, lit, table
from tidegate.warehouse.base import Warehouse

CHUNK = 500


def _matches(columns: Sequence[str], values: Sequence[tuple[object, ...]]) -> exp.Expr:
    if len(columns) == 1:
        return col(columns[0]).isin(*[lit(v[0]) for v in values])
    return exp.or_(
        *[exp.and_(*[col(c).eq(lit(x)) for c, x in zip(columns, v, strict=True)]) for v in values]
    )


def existing(
    wh: Warehouse, reference: Reference, values: Sequence[tuple[object, ...]]
) -> set[tuple[object, ...]]:
    """The subset of ``values`` present in the referenced target, as text tuples."""
    parent = reference.target_columns or reference.columns
    if wh.columns_of(reference.target, wh.schemas.core) is None:
        return set()
    found: set[tuple[object, ...]] = set()
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        query = (
            exp.select(*[col(c) for c in parent])
            .distinct()
            .from_(table(reference.target, wh.schemas.core))
            .where(_matches(parent, chunk))
        )
        found |= {tuple(str(x) for x in row) for row in wh.execute(query)}
    return {tuple(v) for v in values if tuple(str(x) for x in v) in found}
