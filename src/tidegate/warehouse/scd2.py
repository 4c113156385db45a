"""SCD type 2: every version of every key, valid from one time to the next.

The model
---------
A key is *observed* at a time: a row of a file says what it was then, and a full snapshot
(``deletes: invalidate``) that lacks the key says it did not exist then. The table holds
the observations compressed: a version starts at an observation whose tracked values
(its row hash) differ from the previous observation's, and lasts until the next
observation that differs. A version ended by an absence is marked deleted; the last
version, unless deleted, is current (``_valid_to`` NULL, or ``history.valid_to_open``).

Because the table is a function of the observations, files may arrive in any order:
loading them late, twice, or sorted by effective time gives the same versions. A late
file never makes stale data current, and a version that becomes equal to its new
predecessor is folded into it (redundant versions are not kept; the row of the earlier
observation survives, as it would have if the files had come in order).

Compression forgets when a version was *confirmed* by later identical observations, and a
late observation needs exactly that: it lasts until the next observation of its key, not
only until the next change. So observation times are kept beside the table:
``<meta>.<target>__observed`` holds (key, time) for every row of a partial file
(``deletes: ignore``), ``<meta>.<target>__snapshots`` the time of every full snapshot.
At such a time the key's state is whatever the table says then.

One load
--------
    stage      the batch into a temporary table; one row per key and time (the last)
    affected   keys with a row that differs from the version in force at its time, and
               (invalidate) keys in force at the snapshot's time but absent from it
    events     for affected keys only: the new rows and absences; the existing versions
               from the one in force at the earliest new time on (their starts, and the
               ends of deleted ones); the first recorded observation after each new time,
               in the state the table gives it. At one time a new event wins.
    history    events in time order, compressed: a change starts a version (LAG), which
               lasts until the next change (LEAD)
    apply      delete versions of the affected window that no longer exist, update the
               ends and flags of those that stay, insert the new ones; a version is
               identified by (key, valid_from, row hash), so nothing unchanged is rewritten
    observe    record this file's observation times

``loaded`` counts the rows of this file that start a version; every other row equals the
version in force at its time and is ``unchanged``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from tidegate.config.models import HistoryColumns, TargetConfig
from tidegate.sql import col, data_type, insert_values, lit, table
from tidegate.warehouse.base import Warehouse
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
    with_column,
)

OBSERVED_AT = "_observed_at"
AT, PRIO, STATE, FROM = "_tg_at", "_tg_prio", "_tg_state", "_tg_from"
PREV, NEXT_AT, NEXT_STATE = "_tg_prev", "_tg_next_at", "_tg_next_state"
ABSENT = "-"  # the state of a key missing from a snapshot; a row hash is never '-'

STAGE, ROWS, MISSING, KEYS = "_tg_scd2_stage", "_tg_scd2_rows", "_tg_scd2_missing", "_tg_scd2_keys"
NEW, EVENTS, HISTORY = "_tg_scd2_new", "_tg_scd2_events", "_tg_scd2_history"
GONE = "_tg_scd2_gone"
TEMPS = (STAGE, ROWS, MISSING, KEYS, NEW, EVENTS, HISTORY, GONE)


@dataclass(frozen=True)
class Layout:
    """Names and types of one scd2 target, and the tables it keeps."""

    target: TargetConfig
    table: exp.Table
    observed: exp.Table
    snapshots: exp.Table

    @classmethod
    def of(cls, wh: Warehouse, name: str, target: TargetConfig) -> Layout:
        meta = wh.schemas.meta
        return cls(
            target,
            table(name, wh.schemas.core),
            table(f"{name}__observed", meta),
            table(f"{name}__snapshots", meta),
        )

    @property
    def h(self) -> HistoryColumns:
        return history_names(self.target)

    @property
    def key(self) -> list[str]:
        return list(self.target.key)

    @property
    def carried(self) -> Columns:
        """What a version takes from the observation that starts it."""
        row_hash = (self.h.row_hash, data_type("varchar"))
        return [*business_columns(self.target), *lineage_columns(), row_hash]

    @property
    def carried_names(self) -> list[str]:
        return [name for name, _ in self.carried]

    @property
    def columns(self) -> Columns:
        stamp, flag = data_type("timestamp"), data_type("boolean")
        validity = [(self.h.valid_from, stamp), (self.h.valid_to, stamp)]
        return [*self.carried, *validity, (self.h.is_current, flag), (self.h.is_deleted, flag)]

    @property
    def staged(self) -> Columns:
        return [*self.carried, (self.h.valid_from, data_type("timestamp"))]

    def open_end(self, end: exp.Expr) -> exp.Expr:
        """The stored end of a version: NULL, or the configured far future, while open."""
        value = self.target.history.valid_to_open
        if value is None:
            return end
        return exp.Coalesce(this=end, expressions=[exp.cast(lit(value), "timestamp")])


def scd2_columns(target: TargetConfig) -> Columns:
    """The table's columns: business, lineage, row hash, validity, flags."""
    return Layout(target, table("_tg_t"), table("_tg_o"), table("_tg_s")).columns


def prepare(wh: Warehouse, name: str, target: TargetConfig, created: bool) -> None:
    """Indexes and observation tables; a newly created target forgets earlier observations."""
    layout = Layout.of(wh, name, target)
    core, meta = wh.schemas.core, wh.schemas.meta
    wh.ensure_index(name, core, f"{name}__key_current", [*layout.key, layout.h.is_current])
    wh.ensure_schema(meta)
    stamp = (OBSERVED_AT, data_type("timestamp"))
    keys = [(c, kind) for c, kind in business_columns(target) if c in layout.key]
    wh.ensure_table(layout.observed.name, meta, [*keys, stamp])
    wh.ensure_table(layout.snapshots.name, meta, [stamp])
    wh.ensure_index(layout.observed.name, meta, f"{name}__observed_key", [*layout.key, OBSERVED_AT])
    if created:
        wh.execute(exp.delete(layout.observed))
        wh.execute(exp.delete(layout.snapshots))


def scd2(
    wh: Warehouse, name: str, target: TargetConfig, rows: pa.RecordBatchReader, ctx: LoadContext
) -> Applied:
    layout = Layout.of(wh, name, target)
    if layout.h.valid_from not in rows.schema.names:
        rows = with_column(rows, layout.h.valid_from, ctx.effective_at, pa.timestamp("us"))
    rows = only_columns(rows, [c for c, _ in layout.staged], "scd2")
    staged = wh.stage(STAGE, layout.staged, rows)
    check_keys(wh, staged, layout.key, name)
    applied = _load(wh, layout, staged, ctx)
    for temp in TEMPS:  # after a failure the caller's rollback removes them
        wh.drop_temp(temp)
    return applied


def _load(wh: Warehouse, layout: Layout, staged: exp.Table, ctx: LoadContext) -> Applied:
    at = exp.cast(lit(ctx.effective_at), "timestamp")
    invalidate = layout.target.history.deletes == "invalidate"
    rows = _one_per_time(wh, layout, staged, at)
    missing = wh.create_temp(MISSING, _missing(layout, rows, at, invalidate))
    keys = wh.create_temp(KEYS, _affected(layout, rows, missing))
    loaded = _rewrite(wh, layout, rows, missing, keys) if count_of(wh, keys) else 0
    _observe(wh, layout, rows, ctx, invalidate)
    received, kept = count_of(wh, staged), count_of(wh, rows)
    return Applied(loaded=loaded, unchanged=kept - loaded, superseded=received - kept)


def _rewrite(
    wh: Warehouse, layout: Layout, rows: exp.Table, missing: exp.Table, keys: exp.Table
) -> int:
    """Recompute the affected keys' history from the first changed time; returns the
    number of this file's rows that start a version."""
    new = wh.create_temp(NEW, _new_events(layout, rows, missing, keys))
    events = wh.create_temp(EVENTS, _events(layout, new, keys))
    history = wh.create_temp(HISTORY, _history(layout, events))
    gone = wh.create_temp(GONE, _gone(layout, keys, history))
    loaded = count_of(wh, history.as_("_tg_h"), _loaded(layout))
    if count_of(wh, gone):
        wh.execute(_delete_gone(layout, gone))
    wh.execute(_update_kept(layout, history))
    wh.execute(_insert_new(layout, history))
    return loaded


# --------------------------------------------------------------------------- small builders


def cols(names: Sequence[str], alias: str | None = None) -> list[exp.Expr]:
    return [col(name, alias) for name in names]


def named(expression: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(expression, name, quoted=True)


def typed_null(kind: exp.DataType) -> exp.Expr:
    return exp.cast(exp.null(), kind)


def flag(condition: exp.Expr) -> exp.Expr:
    """A boolean value from a condition, in a form every dialect can select."""
    return exp.Case(ifs=[exp.If(this=condition, true=exp.true())], default=exp.false())


def over(function: exp.Expr, key: Sequence[str], order: Sequence[exp.Ordered]) -> exp.Window:
    return exp.Window(
        this=function, partition_by=cols(key), order=exp.Order(expressions=list(order))
    )


def in_force(layout: Layout, alias: str, moment: exp.Expr) -> exp.Expr:
    """The version ``alias`` is valid at ``moment``: it has started and not yet ended."""
    h = layout.h
    running = exp.or_(
        col(h.is_current, alias).eq(exp.true()),
        exp.GT(this=col(h.valid_to, alias), expression=moment),
    )
    return exp.and_(
        exp.LTE(this=col(h.valid_from, alias), expression=moment.copy()), exp.paren(running)
    )


def one(source: exp.Expr, *conditions: exp.Expr) -> exp.Exists:
    """``EXISTS (SELECT 1 FROM source WHERE conditions)``."""
    return exists(exp.select(lit(1)).from_(source).where(*conditions))


def same_version(layout: Layout, left: str | exp.Table, right: str) -> list[exp.Expr]:
    """``left`` (an alias, or the target by its full name) and ``right`` are one version:
    same key, start and row hash."""
    names = [*layout.key, layout.h.valid_from, layout.h.row_hash]
    if isinstance(left, exp.Table):
        return [full_col(left, n).eq(col(n, right)) for n in names]
    return [col(n, left).eq(col(n, right)) for n in names]


# --------------------------------------------------------------------------- the batch


def _one_per_time(wh: Warehouse, layout: Layout, staged: exp.Table, at: exp.Expr) -> exp.Table:
    """One row per key and time; a row without a time takes the file's effective time."""
    vf = layout.h.valid_from
    untimed = exp.Update(
        this=staged.copy(),
        expressions=[exp.EQ(this=col(vf), expression=at)],
        where=exp.Where(this=col(vf).is_(exp.null())),
    )
    wh.execute(untimed)
    names = [c for c, _ in layout.staged]
    order = last_first(layout.target)
    return last_of_each(wh, staged, ROWS, names, [*layout.key, vf], order)


def _missing(layout: Layout, rows: exp.Table, at: exp.Expr, invalidate: bool) -> exp.Select:
    """Keys in force at the snapshot's time that the snapshot lacks (none unless invalidate)."""
    query = (
        exp.select(*cols(layout.key, "_tg_t"), named(at, AT))
        .from_(layout.table.as_("_tg_t"))
        .where(in_force(layout, "_tg_t", at.copy()))
        .where(exp.not_(one(rows.as_("_tg_r"), same_key(layout.key, "_tg_r", "_tg_t"))))
    )
    return query if invalidate else query.where(exp.false())


def _affected(layout: Layout, rows: exp.Table, missing: exp.Table) -> exp.Select:
    """Keys whose history changes, with the earliest time it changes from.

    A row is a change unless the version in force at its time has its hash; the anti-join
    is written as LEFT JOIN ... IS NULL, which engines plan as a hash join on key and hash.
    """
    h = layout.h
    same = exp.and_(
        same_key(layout.key, "_tg_t", "_tg_r"),
        col(h.row_hash, "_tg_t").eq(col(h.row_hash, "_tg_r")),
        in_force(layout, "_tg_t", col(h.valid_from, "_tg_r")),
    )
    changed = (
        exp.select(*cols(layout.key, "_tg_r"), named(col(h.valid_from, "_tg_r"), AT))
        .from_(rows.as_("_tg_r"))
        .join(layout.table.as_("_tg_t"), on=same, join_type="left")
        .where(col(h.valid_from, "_tg_t").is_(exp.null()))
    )
    gone = exp.select(*cols(layout.key), col(AT)).from_(missing)
    both = exp.union(changed, gone, distinct=False).subquery("_tg_changes")
    return (
        exp.select(*cols(layout.key), named(exp.Min(this=col(AT)), FROM))
        .from_(both)
        .group_by(*cols(layout.key))
    )


# --------------------------------------------------------------------------- events


def _event_columns() -> list[str]:
    return [AT, PRIO, STATE]


def _new_events(layout: Layout, rows: exp.Table, missing: exp.Table, keys: exp.Table) -> exp.Query:
    """This file's rows of affected keys, and its absences."""
    h = layout.h
    present = (
        exp.select(
            *cols(layout.carried_names, "_tg_r"),
            named(col(h.valid_from, "_tg_r"), AT),
            named(lit(1), PRIO),
            named(col(h.row_hash, "_tg_r"), STATE),
        )
        .from_(rows.as_("_tg_r"))
        .join(keys.as_("_tg_k"), on=same_key(layout.key, "_tg_r", "_tg_k"))
    )
    absent = exp.select(
        *_key_or_null(layout, "_tg_m"),
        named(col(AT, "_tg_m"), AT),
        named(lit(1), PRIO),
        named(lit(ABSENT), STATE),
    ).from_(missing.as_("_tg_m"))
    return exp.union(present, absent, distinct=False)


def _key_or_null(layout: Layout, alias: str) -> list[exp.Expr]:
    """The carried columns of an absence: its key, and NULL for everything else."""
    return [
        col(name, alias) if name in layout.key else named(typed_null(kind), name)
        for name, kind in layout.carried
    ]


def _events(layout: Layout, new: exp.Table, keys: exp.Table) -> exp.Query:
    parts = [
        exp.select(*cols([*layout.carried_names, *_event_columns()])).from_(new),
        _existing_starts(layout, keys),
        _existing_ends(layout, keys),
        _next_observations(layout, new),
    ]
    query: exp.Query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return query


def _window(layout: Layout, keys: exp.Table) -> exp.Select:
    """Versions of affected keys from the one in force at the earliest new time on."""
    h = layout.h
    reaches = exp.or_(
        col(h.is_current, "_tg_t").eq(exp.true()),
        exp.GTE(this=col(h.valid_to, "_tg_t"), expression=col(FROM, "_tg_k")),
    )
    return (
        exp.select()
        .from_(layout.table.as_("_tg_t"))
        .join(keys.as_("_tg_k"), on=same_key(layout.key, "_tg_t", "_tg_k"))
        .where(reaches)
    )


def _existing_starts(layout: Layout, keys: exp.Table) -> exp.Select:
    h = layout.h
    return _window(layout, keys).select(
        *cols(layout.carried_names, "_tg_t"),
        named(col(h.valid_from, "_tg_t"), AT),
        named(lit(0), PRIO),
        named(col(h.row_hash, "_tg_t"), STATE),
    )


def _existing_ends(layout: Layout, keys: exp.Table) -> exp.Select:
    """Deleted versions end in an absence."""
    h = layout.h
    return (
        _window(layout, keys)
        .select(
            *_key_or_null(layout, "_tg_t"),
            named(col(h.valid_to, "_tg_t"), AT),
            named(lit(0), PRIO),
            named(lit(ABSENT), STATE),
        )
        .where(col(h.is_deleted, "_tg_t").eq(exp.true()))
    )


def _next_observations(layout: Layout, new: exp.Table) -> exp.Select:
    """The first recorded observation after each new event, in the table's state then."""
    h = layout.h
    nexts = _next_times(layout, new).subquery("_tg_a")
    moment = col(AT, "_tg_a")
    version = layout.table.as_("_tg_t")
    on = exp.and_(same_key(layout.key, "_tg_t", "_tg_a"), in_force(layout, "_tg_t", moment))
    carried = [
        col(name, "_tg_a") if name in layout.key else col(name, "_tg_t")
        for name in layout.carried_names
    ]
    state = exp.Coalesce(this=col(h.row_hash, "_tg_t"), expressions=[lit(ABSENT)])
    return (
        exp.select(*carried, named(moment.copy(), AT), named(lit(0), PRIO), named(state, STATE))
        .from_(nexts)
        .join(version, on=on, join_type="left")
        .where(moment.copy().is_(exp.null()).not_())
    )


def _next_times(layout: Layout, new: exp.Table) -> exp.Select:
    """Per new event: the earliest later time its key was observed (by key or snapshot)."""
    by_key = exp.select(exp.Min(this=col(OBSERVED_AT, "_tg_o"))).from_(layout.observed.as_("_tg_o"))
    by_key = by_key.where(
        same_key(layout.key, "_tg_o", "_tg_n"),
        exp.GT(this=col(OBSERVED_AT, "_tg_o"), expression=col(AT, "_tg_n")),
    )
    by_file = exp.select(exp.Min(this=col(OBSERVED_AT, "_tg_s"))).from_(
        layout.snapshots.as_("_tg_s")
    )
    by_file = by_file.where(exp.GT(this=col(OBSERVED_AT, "_tg_s"), expression=col(AT, "_tg_n")))
    candidates = exp.select(
        *cols(layout.key, "_tg_n"),
        named(by_key.subquery(), "_tg_o"),
        named(by_file.subquery(), "_tg_s"),
    ).from_(new.as_("_tg_n"))
    earliest = exp.Case(
        ifs=[
            exp.If(this=col("_tg_o").is_(exp.null()), true=col("_tg_s")),
            exp.If(this=col("_tg_s").is_(exp.null()), true=col("_tg_o")),
            exp.If(this=exp.LT(this=col("_tg_o"), expression=col("_tg_s")), true=col("_tg_o")),
        ],
        default=col("_tg_s"),
    )
    return (
        exp.select(*cols(layout.key), named(earliest, AT))
        .distinct()
        .from_(candidates.subquery("_tg_c"))
    )


# --------------------------------------------------------------------------- history


def _history(layout: Layout, events: exp.Table) -> exp.Select:
    """Events compressed into versions: each change lasts until the next change."""
    h = layout.h
    carried = layout.carried_names
    changes = _changes(layout, events)
    at = exp.Ordered(this=col(AT))
    linked = exp.select(
        *cols([*carried, AT, PRIO, STATE]),
        named(over(exp.Lead(this=col(AT)), layout.key, [at]), NEXT_AT),
        named(over(exp.Lead(this=col(STATE)), layout.key, [at.copy()]), NEXT_STATE),
    ).from_(changes.subquery("_tg_changes"))
    return (
        exp.select(
            *cols(carried),
            named(col(AT), h.valid_from),
            named(layout.open_end(col(NEXT_AT)), h.valid_to),
            named(flag(col(NEXT_AT).is_(exp.null())), h.is_current),
            named(flag(col(NEXT_STATE).eq(lit(ABSENT))), h.is_deleted),
            col(PRIO),
        )
        .from_(linked.subquery("_tg_linked"))
        .where(col(STATE).neq(lit(ABSENT)))
    )


def _changes(layout: Layout, events: exp.Table) -> exp.Select:
    """One event per key and time (a new one first), kept when its state differs from the
    previous event's."""
    names = [*layout.carried_names, AT, PRIO, STATE]
    first = [exp.Ordered(this=col(PRIO), desc=True), exp.Ordered(this=col(STATE), desc=True)]
    ranked = exp.select(
        *cols(names), named(over(exp.RowNumber(), [*layout.key, AT], first), "_tg_rank")
    ).from_(events)
    lag = exp.Lag(this=col(STATE), offset=lit(1), default=lit(""))
    marked = (
        exp.select(*cols(names), named(over(lag, layout.key, [exp.Ordered(this=col(AT))]), PREV))
        .from_(ranked.subquery("_tg_ranked"))
        .where(col("_tg_rank").eq(lit(1)))
    )
    return (
        exp.select(*cols(names))
        .from_(marked.subquery("_tg_marked"))
        .where(col(STATE).neq(col(PREV)))
    )


# --------------------------------------------------------------------------- apply


def _loaded(layout: Layout) -> exp.Expr:
    """History rows of this file that are not in the table yet."""
    return exp.and_(
        col(PRIO, "_tg_h").eq(lit(1)),
        exp.not_(one(layout.table.as_("_tg_t"), *same_version(layout, "_tg_t", "_tg_h"))),
    )


def _gone(layout: Layout, keys: exp.Table, history: exp.Table) -> exp.Select:
    """Versions of the affected window that the new history no longer has."""
    names = [*layout.key, layout.h.valid_from, layout.h.row_hash]
    kept = one(history.as_("_tg_h"), *same_version(layout, "_tg_t", "_tg_h"))
    return _window(layout, keys).select(*cols(names, "_tg_t")).where(exp.not_(kept))


def _delete_gone(layout: Layout, gone: exp.Table) -> exp.Delete:
    target = layout.table
    listed = one(gone.as_("_tg_g"), *same_version(layout, target, "_tg_g"))
    return exp.delete(target, where=listed)


def _update_kept(layout: Layout, history: exp.Table) -> exp.Update:
    """Versions that stay get their new end, current and deleted flags."""
    h, target = layout.h, layout.table
    changing = [h.valid_to, h.is_current, h.is_deleted]
    setting = [exp.EQ(this=col(n), expression=col(n, "_tg_h")) for n in changing]
    differs = exp.or_(*[_distinct(full_col(target, n), col(n, "_tg_h")) for n in changing])
    match = exp.and_(*same_version(layout, target, "_tg_h"), exp.paren(differs))
    return exp.Update(
        this=target.copy(),
        expressions=setting,
        from_=exp.From(this=history.as_("_tg_h")),
        where=exp.Where(this=match),
    )


def _distinct(left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """``left`` and ``right`` differ, NULL counting as a value (portable IS DISTINCT FROM)."""
    only_left = exp.and_(right.is_(exp.null()), exp.not_(left.is_(exp.null())))
    only_right = exp.and_(left.is_(exp.null()), exp.not_(right.is_(exp.null())))
    return exp.paren(exp.or_(left.neq(right), only_left, only_right))


def _insert_new(layout: Layout, history: exp.Table) -> exp.Insert:
    names = [name for name, _ in layout.columns]
    known = one(layout.table.as_("_tg_t"), *same_version(layout, "_tg_t", "_tg_h"))
    query = exp.select(*cols(names, "_tg_h")).from_(history.as_("_tg_h")).where(exp.not_(known))
    return exp.insert(
        query, layout.table, columns=[exp.to_identifier(n, quoted=True) for n in names]
    )


def _observe(
    wh: Warehouse, layout: Layout, rows: exp.Table, ctx: LoadContext, invalidate: bool
) -> None:
    """Remember when keys were seen: per key for partial files, per file for snapshots."""
    if invalidate:
        seen = col(OBSERVED_AT).eq(exp.cast(lit(ctx.effective_at), "timestamp"))
        if not count_of(wh, layout.snapshots, seen):
            wh.execute(insert_values(layout.snapshots, [OBSERVED_AT], [[ctx.effective_at]]))
        return
    vf = layout.h.valid_from
    recorded = one(
        layout.observed.as_("_tg_o"),
        same_key(layout.key, "_tg_o", "_tg_r"),
        col(OBSERVED_AT, "_tg_o").eq(col(vf, "_tg_r")),
    )
    query = (
        exp.select(*cols(layout.key, "_tg_r"), named(col(vf, "_tg_r"), OBSERVED_AT))
        .distinct()
        .from_(rows.as_("_tg_r"))
        .where(exp.not_(recorded))
    )
    columns = [exp.to_identifier(n, quoted=True) for n in [*layout.key, OBSERVED_AT]]
    wh.execute(exp.insert(query, layout.observed, columns=columns))
