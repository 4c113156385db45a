"""Merge (upsert by key): one row per key, the latest file's values.

    stage      the batch goes to a temporary table
    latest     one row per key: the last by the order column, then by row number
    update     keys already present whose row hash differs get the new values and lineage
    insert     keys not present yet
    unchanged  keys present with the same hash: not rewritten

Only keys of the batch are read or written (joins on the key, which is indexed).

With ``history.effective`` set (``effective.is_set``) each row keeps its effective time in
``history.columns.valid_from``, and "latest" means latest in effective time: a row older
than the table's row of its key does not overwrite it (a file that arrived late) and is
counted unchanged; a row with the table's values and a newer time only moves that time on,
so a later late file is judged against the newest observation.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from sqlglot import exp

from tidegate import effective
from tidegate.config.models import TargetConfig
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse.base import Batches, Rows, Warehouse
from tidegate.warehouse.batch import (
    Applied,
    Columns,
    LoadContext,
    business_columns,
    check_keys,
    count_of,
    exists,
    history_names,
    last_first,
    last_of_each,
    lineage_columns,
    names_of,
    only_columns,
    same_key,
    with_column,
)

STAGE = "_tg_merge_stage"
LATEST = "_tg_merge_latest"
# The aliases of the target table and of the file's latest rows (the merge source).
TARGET_ALIAS, SOURCE_ALIAS = "_tg_t", "_tg_s"


def merge_columns(target: TargetConfig) -> Columns:
    """The table's columns: business columns, lineage, row hash (and effective time)."""
    row_hash = history_names(target).row_hash
    columns = [*business_columns(target), *lineage_columns(), (row_hash, data_type("varchar"))]
    return columns + timed_columns(target)


def timed_columns(target: TargetConfig) -> Columns:
    """The effective-time column of a merge or replace target, when it has one."""
    if not effective.is_set(target.history):
        return []
    return [(history_names(target).valid_from, data_type("timestamp"))]


def with_time(rows: Batches, target: TargetConfig, at: datetime) -> Batches:
    """The rows with their effective-time column: the file's time, to be replaced by the
    row's own (``stamp_rows``) where the time is a column."""
    name = history_names(target).valid_from
    if not effective.is_set(target.history) or name in names_of(rows):
        return rows
    if isinstance(rows, pa.RecordBatchReader):
        return with_column(rows, name, at, pa.timestamp("us"))
    when = exp.alias_(exp.cast(lit(at), "timestamp"), name, quoted=True)
    query = exp.select(*[col(c) for c in rows.names], when).from_(rows.query.subquery("_tg_rows"))
    return Rows(rows.con, query)


def stamp_rows(wh: Warehouse, staged: exp.Table, target: TargetConfig) -> None:
    """With ``effective: column:<name>``, a staged row's time is its value (if it has one)."""
    column = effective.row_column(target.history)
    if column is None:
        return
    when = exp.cast(col(column), "timestamp")
    setting = [exp.EQ(this=col(history_names(target).valid_from), expression=when)]
    present = exp.Where(this=exp.not_(col(column).is_(exp.null())))
    wh.execute(exp.Update(this=staged.copy(), expressions=setting, where=present))


def prepare(wh: Warehouse, name: str, target: TargetConfig) -> None:
    wh.ensure_join_index(name, wh.schemas.core, f"{name}__key", target.key)


def merge(
    wh: Warehouse, name: str, target: TargetConfig, rows: Batches, ctx: LoadContext
) -> Applied:
    columns = merge_columns(target)
    rows = only_columns(with_time(rows, target, ctx.effective_at), [c for c, _ in columns], "merge")
    staged = wh.stage(STAGE, columns, rows)
    check_keys(wh, staged, target.key, name)
    stamp_rows(wh, staged, target)
    names = [c for c, _ in columns]
    order = [*_newest_first(target), *last_first(target)]
    latest = last_of_each(wh, staged, LATEST, names, target.key, order)
    applied = _upsert(wh, table(name, wh.schemas.core), target, latest, count_of(wh, staged))
    wh.drop_temp(LATEST)  # after a failure the caller's rollback removes them
    wh.drop_temp(STAGE)
    return applied


def _newest_first(target: TargetConfig) -> list[exp.Ordered]:
    """Within a file, the row of a key with the latest effective time wins."""
    names = timed_columns(target)
    return [exp.Ordered(this=col(name), desc=True, nulls_first=False) for name, _ in names]


def _upsert(
    wh: Warehouse, target_table: exp.Table, target: TargetConfig, latest: exp.Table, received: int
) -> Applied:
    row_hash = history_names(target).row_hash
    kept = count_of(wh, latest)
    new = count_of(wh, latest.as_(SOURCE_ALIAS), exp.not_(exists(_present(target_table, target))))
    changed = count_of(
        wh, latest.as_(SOURCE_ALIAS), exists(_changed(target_table, target, row_hash))
    )
    names = [c for c, _ in merge_columns(target)]
    wh.upsert(target_table, latest, target.key, _when_matched(target, names), names)
    loaded = new + changed
    return Applied(loaded=loaded, unchanged=kept - loaded, superseded=received - kept)


def _when_matched(
    target: TargetConfig, names: list[str]
) -> list[tuple[exp.Expr, dict[str, exp.Expr]]]:
    """What an existing row of a staged key becomes: every value when the row changed and
    is not older; with effective times, only the time when the same values are seen again
    later. The two exclude one another (the hashes differ, or they do not)."""
    h = history_names(target)
    newer = _not_older(target, col(h.valid_from, TARGET_ALIAS), col(h.valid_from, SOURCE_ALIAS))
    changed = exp.and_(_differs(h.row_hash, TARGET_ALIAS, SOURCE_ALIAS), newer)
    every: dict[str, exp.Expr] = {n: col(n, SOURCE_ALIAS) for n in names if n not in target.key}
    matched: list[tuple[exp.Expr, dict[str, exp.Expr]]] = [(changed, every)]
    if timed_columns(target):
        same = col(h.row_hash, TARGET_ALIAS).eq(col(h.row_hash, SOURCE_ALIAS))
        later = exp.or_(
            col(h.valid_from, TARGET_ALIAS).is_(exp.null()),
            exp.GT(
                this=col(h.valid_from, SOURCE_ALIAS), expression=col(h.valid_from, TARGET_ALIAS)
            ),
        )
        matched.append((exp.and_(same, later), {h.valid_from: col(h.valid_from, SOURCE_ALIAS)}))
    return matched


def _not_older(target: TargetConfig, table_col: exp.Column, staged_col: exp.Column) -> exp.Expr:
    """The staged row is at least as recent as the table's (a row without a time is oldest).

    Equal times: the file that arrived later wins, as without effective times.
    """
    if not timed_columns(target):
        return exp.true()
    return exp.or_(table_col.is_(exp.null()), exp.GTE(this=staged_col, expression=table_col))


def _present(target_table: exp.Table, target: TargetConfig) -> exp.Select:
    """The existing row of the staged row ``s`` (correlated)."""
    return (
        exp.select(exp.Literal.number(1))
        .from_(target_table.as_(TARGET_ALIAS))
        .where(same_key(target.key, TARGET_ALIAS, SOURCE_ALIAS))
    )


def _differs(row_hash: str, left: str, right: str) -> exp.Expr:
    mismatch = col(row_hash, left).neq(col(row_hash, right))
    return exp.or_(mismatch, col(row_hash, left).is_(exp.null()))


def _changed(target_table: exp.Table, target: TargetConfig, row_hash: str) -> exp.Select:
    vf = history_names(target).valid_from
    newer = _not_older(target, col(vf, TARGET_ALIAS), col(vf, SOURCE_ALIAS))
    return _present(target_table, target).where(
        exp.and_(_differs(row_hash, TARGET_ALIAS, SOURCE_ALIAS), newer)
    )
