"""Applying one file's rows to a target table, by the target's load mode.

    append    rows are added
    replace   the table becomes the file's rows (atomic with the caller's transaction),
              unless, with ``history.effective`` set, the table holds a newer snapshot
    merge     upsert by key (``merge.py``)
    scd2      versioned history by key (``scd2.py``)

A mode is a row of ``MODES``: the table's columns, what to prepare once the table exists
(indexes, side tables), and the loader. Every loader runs inside the caller's transaction
and answers how many rows it wrote (``loaded``), found already present (``unchanged``),
and saw overridden by a later row of the same key in the file (``superseded``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp

from tidegate.config.models import TargetConfig
from tidegate.sql import col, lit, table
from tidegate.warehouse import evolve
from tidegate.warehouse import merge as merging
from tidegate.warehouse import scd2 as history
from tidegate.warehouse.base import Batches, Warehouse
from tidegate.warehouse.batch import (
    FILE_ID,
    LINEAGE,
    LOADED_AT,
    ROW,
    Applied,
    Columns,
    LoadContext,
    business_columns,
    count_of,
    history_names,
    lineage_columns,
    only_columns,
)

REPLACE_STAGE = "_tg_replace_stage"

__all__ = [
    "FILE_ID",
    "LINEAGE",
    "LOADED_AT",
    "MODES",
    "ROW",
    "Applied",
    "LoadContext",
    "Mode",
    "append",
    "apply",
    "ensure_target",
    "replace",
    "rows_of_file",
    "target_columns",
]

Loader = Callable[[Warehouse, str, TargetConfig, Batches, LoadContext], Applied]
Prepare = Callable[[Warehouse, str, TargetConfig, bool], None]


def plain_columns(target: TargetConfig) -> Columns:
    return [*business_columns(target), *lineage_columns()]


def replace_columns(target: TargetConfig) -> Columns:
    """A replace target also keeps its snapshot's effective time, when it has one."""
    return [*plain_columns(target), *merging.timed_columns(target)]


def append(
    wh: Warehouse, name: str, target: TargetConfig, rows: Batches, ctx: LoadContext
) -> Applied:
    return Applied(loaded=wh.write(name, wh.schemas.core, rows))


def replace(
    wh: Warehouse, name: str, target: TargetConfig, rows: Batches, ctx: LoadContext
) -> Applied:
    """The target becomes this file's content; atomic because the caller's transaction is.

    With an effective time, a snapshot older than the table's (a file that arrived late)
    changes nothing: its rows count as unchanged.
    """
    if not merging.timed_columns(target):
        wh.execute(exp.delete(table(name, wh.schemas.core)))
        return append(wh, name, target, rows, ctx)
    columns = replace_columns(target)
    rows = only_columns(
        merging.with_time(rows, target, ctx.effective_at), [c for c, _ in columns], "replace"
    )
    staged = wh.stage(REPLACE_STAGE, columns, rows)
    merging.stamp_rows(wh, staged, target)
    vf = col(history_names(target).valid_from)
    current = wh.scalar(exp.select(exp.Max(this=vf)).from_(table(name, wh.schemas.core)))
    arriving = wh.scalar(exp.select(exp.Max(this=vf.copy())).from_(staged))
    received = count_of(wh, staged)
    if current is not None and arriving is not None and _as_time(arriving) < _as_time(current):
        wh.drop_temp(REPLACE_STAGE)
        return Applied(loaded=0, unchanged=received)
    wh.execute(exp.delete(table(name, wh.schemas.core)))
    names = [exp.to_identifier(c, quoted=True) for c, _ in columns]
    query = exp.select(*[col(c) for c, _ in columns]).from_(staged)
    wh.execute(exp.insert(query, table(name, wh.schemas.core), columns=names))
    wh.drop_temp(REPLACE_STAGE)
    return Applied(loaded=received)


def _as_time(value: object) -> datetime:
    """A timestamp as the warehouse returns it (SQLite gives text)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.fromisoformat(str(value))


def nothing_to_prepare(wh: Warehouse, name: str, target: TargetConfig, created: bool) -> None:
    return None


def prepare_merge(wh: Warehouse, name: str, target: TargetConfig, created: bool) -> None:
    merging.prepare(wh, name, target)


@dataclass(frozen=True)
class Mode:
    columns: Callable[[TargetConfig], Columns]
    prepare: Prepare
    load: Loader
    keyed: bool = False  # rows are found and changed by the target's key


MODES: dict[str, Mode] = {
    "append": Mode(plain_columns, nothing_to_prepare, append),
    "replace": Mode(replace_columns, nothing_to_prepare, replace),
    "merge": Mode(merging.merge_columns, prepare_merge, merging.merge, keyed=True),
    "scd2": Mode(history.scd2_columns, history.prepare, history.scd2, keyed=True),
}


def mode_of(target: TargetConfig) -> Mode:
    try:
        return MODES[target.load]
    except KeyError:
        raise NotImplementedError(f"load mode {target.load!r} is not available") from None


def target_columns(target: TargetConfig) -> Columns:
    """Every column of the target's table in its load mode, lineage and history included."""
    return mode_of(target).columns(target)


def ensure_target(
    wh: Warehouse,
    name: str,
    target: TargetConfig,
    file_id: str | None = None,
    run_id: str | None = None,
) -> None:
    """Create the table, or make the safe changes it needs (new columns, wider types), then
    its indexes and side tables; every change is recorded with the file or run that made it."""
    wh.ensure_schema(wh.schemas.core)
    if mode_of(target).keyed:
        wh.keyed(name, wh.schemas.core, target.key)
    created = wh.columns_of(name, wh.schemas.core) is None
    if created:
        wh.ensure_table(name, wh.schemas.core, target_columns(target))
        evolve.record_created(wh, name, target, file_id, run_id)
    else:
        evolve.apply(wh, name, target, target_columns(target), file_id)
    mode_of(target).prepare(wh, name, target, created)


def apply(
    wh: Warehouse, name: str, target: TargetConfig, rows: Batches, ctx: LoadContext
) -> Applied:
    ensure_target(wh, name, target, ctx.file_id)
    mode = mode_of(target)
    applied = mode.load(wh, name, target, rows, ctx)
    if wh.SUPPORTS_TRANSACTIONS or not mode.keyed:
        return applied
    return _resumed(wh, name, ctx, applied)


def _resumed(wh: Warehouse, name: str, ctx: LoadContext, applied: Applied) -> Applied:
    """Without transactions (Spark) a merge or scd2 load killed part-way has written some
    of its rows, each statement committed on its own. The rerun finds them equal to the
    table's and counts them unchanged; they are this file's rows all the same, and are
    counted loaded, as one clean run counts them."""
    present = rows_of_file(wh, name, ctx.file_id)
    earlier = min(present - applied.loaded, applied.unchanged)
    if earlier <= 0:
        return applied
    return Applied(
        loaded=applied.loaded + earlier,
        unchanged=applied.unchanged - earlier,
        superseded=applied.superseded,
    )


def rows_of_file(wh: Warehouse, name: str, file_id: str) -> int:
    """Rows in a target that carry this file's id: the warehouse's side of reconciliation."""
    return wh.count(name, wh.schemas.core, where=col(FILE_ID).eq(lit(file_id)))
