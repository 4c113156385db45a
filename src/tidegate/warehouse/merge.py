"""Merge (upsert by key): one row per key, the latest file's values.

    stage      the batch goes to a temporary table
    latest     one row per key: the last by the order column, then by row number
    update     keys already present whose row hash differs get the new values and lineage
    insert     keys not present yet
    unchanged  keys present with the same hash: not rewritten

Only keys of the batch are read or written (joins on the key, which is indexed).
"""

from __future__ import annotations

from sqlglot import exp

from tidegate.config.models import TargetConfig
from tidegate.sql import col, data_type, table
from tidegate.warehouse.base import Batches, Warehouse
from tidegate.warehouse.batch import (
    Applied,
    Columns,
    LoadContext,
    business_columns,
    check_keys,
    count_of,
    exists,
    full_col,
    history_names,
    last_first,
    last_of_each,
    lineage_columns,
    only_columns,
    same_key,
)

STAGE = "_tg_merge_stage"
LATEST = "_tg_merge_latest"
T, S = "_tg_t", "_tg_s"


def merge_columns(target: TargetConfig) -> Columns:
    """The table's columns: business columns, lineage, row hash."""
    row_hash = history_names(target).row_hash
    return [*business_columns(target), *lineage_columns(), (row_hash, data_type("varchar"))]


def prepare(wh: Warehouse, name: str, target: TargetConfig) -> None:
    wh.ensure_index(name, wh.schemas.core, f"{name}__key", target.key)


def merge(
    wh: Warehouse, name: str, target: TargetConfig, rows: Batches, ctx: LoadContext
) -> Applied:
    columns = merge_columns(target)
    rows = only_columns(rows, [c for c, _ in columns], "merge")
    staged = wh.stage(STAGE, columns, rows)
    check_keys(wh, staged, target.key, name)
    names = [c for c, _ in columns]
    order = last_first(target)
    latest = last_of_each(wh, staged, LATEST, names, target.key, order)
    applied = _upsert(wh, table(name, wh.schemas.core), target, latest, count_of(wh, staged))
    wh.drop_temp(LATEST)  # after a failure the caller's rollback removes them
    wh.drop_temp(STAGE)
    return applied


def _upsert(
    wh: Warehouse, target_table: exp.Table, target: TargetConfig, latest: exp.Table, received: int
) -> Applied:
    row_hash = history_names(target).row_hash
    kept = count_of(wh, latest)
    new = count_of(wh, latest.as_(S), exp.not_(exists(_present(target_table, target))))
    changed = count_of(wh, latest.as_(S), exists(_changed(target_table, target, row_hash)))
    wh.execute(_update(target_table, target, latest, [c for c, _ in merge_columns(target)]))
    wh.execute(_insert_new(target_table, target, latest))
    loaded = new + changed
    return Applied(loaded=loaded, unchanged=kept - loaded, superseded=received - kept)


def _present(target_table: exp.Table, target: TargetConfig) -> exp.Select:
    """The existing row of the staged row ``s`` (correlated)."""
    return (
        exp.select(exp.Literal.number(1))
        .from_(target_table.as_(T))
        .where(same_key(target.key, T, S))
    )


def _differs(row_hash: str, left: str, right: str) -> exp.Expr:
    mismatch = col(row_hash, left).neq(col(row_hash, right))
    return exp.or_(mismatch, col(row_hash, left).is_(exp.null()))


def _changed(target_table: exp.Table, target: TargetConfig, row_hash: str) -> exp.Select:
    return _present(target_table, target).where(_differs(row_hash, T, S))


def _update(
    target_table: exp.Table, target: TargetConfig, latest: exp.Table, names: list[str]
) -> exp.Update:
    """``UPDATE target SET ... FROM latest s WHERE key matches AND hash differs``.

    The target is referred to by its full name, not an alias, which every dialect accepts.
    """
    row_hash = history_names(target).row_hash
    full = target_table.copy()
    setting = [exp.EQ(this=col(n), expression=col(n, S)) for n in names if n not in target.key]
    match = exp.and_(*[full_col(full, k).eq(col(k, S)) for k in target.key])
    stale = exp.or_(
        full_col(full, row_hash).neq(col(row_hash, S)), full_col(full, row_hash).is_(exp.null())
    )
    return exp.Update(
        this=full,
        expressions=setting,
        from_=exp.From(this=latest.as_(S)),
        where=exp.Where(this=exp.and_(match, stale)),
    )


def _insert_new(target_table: exp.Table, target: TargetConfig, latest: exp.Table) -> exp.Insert:
    names = [c for c, _ in merge_columns(target)]
    query = (
        exp.select(*[col(n, S) for n in names])
        .from_(latest.as_(S))
        .where(exp.not_(exists(_present(target_table, target))))
    )
    return exp.insert(
        query, target_table, columns=[exp.to_identifier(n, quoted=True) for n in names]
    )
