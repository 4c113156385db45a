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
only until the next change. So observation times the table does not show are kept beside
it: ``<meta>.<target>__snapshots`` holds the time of every full snapshot, and
``<meta>.<target>__observed`` (key, time) for every row of a partial file
(``deletes: ignore``) that does not start a version; the start of a version is an
observation already, and is recorded there only once its version is folded away. At such
a time the key's state is whatever the table says then.

One load
--------
One pass over the target copies what the file's keys have; every later statement reads
temporary tables the size of the file, and the target is only written where versions
change (found by key and start), so a delta costs about the same in a large dimension as
in a small one. (A full snapshot also reads which keys it lacks: its size is the table's.)

    stage      the batch (Arrow batches, or a query the warehouse itself runs) into a
               temporary table; a row without a time takes the file's effective time; one
               row per key and time (the last)
    versions   one pass over the target: the existing versions of the batch's keys (and,
               for invalidate, of keys in force at the snapshot's time but absent from it),
               without their business columns
    fresh      keys with no version and no recorded observation (when no snapshot is later
               than the batch) are compressed on their own and inserted as they are; usually
               one current version per key
    affected   the other keys with a row that differs from the version in force at its
               time, and the absent keys; each from the earliest time it changes
    events     for affected keys only: the new rows and absences from that time on; their
               versions from the one in force then (their starts, and the ends of deleted
               ones); the first recorded observation after each new time, in the state the
               table gives it. At one time a new event wins.
    history    events in time order, compressed: a change starts a version (LAG), which
               lasts until the next change (LEAD)
    apply      delete the versions of the window that no longer exist, update the ends and
               flags of those that stay, insert the new ones; statements are driven by these
               small sets and find their rows by key and start (an index except on DuckDB); a
               version is identified by (key, valid_from, row hash), so nothing unchanged
               is rewritten
    observe    record this file's observation times that the table does not show

``loaded`` counts the rows of this file that start a version; every other row equals the
version in force at its time and is ``unchanged``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from sqlglot import exp

from tidegate.config.models import HistoryColumns, TargetConfig
from tidegate.sql import col, data_type, insert_values, lit, table
from tidegate.warehouse.base import Batches, Rows, Warehouse
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
    names_of,
    only_columns,
    same_key,
    with_column,
)

OBSERVED_AT = "_observed_at"
AT, PRIO, STATE, FROM, SOURCE = "_tg_at", "_tg_prio", "_tg_state", "_tg_from", "_tg_source"
PREV, NEXT_AT, NEXT_STATE = "_tg_prev", "_tg_next_at", "_tg_next_state"
LATER = "_tg_later"
ABSENT = "-"  # the state of a key missing from a snapshot; a row hash is never '-'

STAGE, ROWS, MISSING = "_tg_scd2_stage", "_tg_scd2_rows", "_tg_scd2_missing"
VERSIONS, KEYS, WINDOW = "_tg_scd2_versions", "_tg_scd2_keys", "_tg_scd2_window"
NEW, SEEN, EVENTS, HISTORY = "_tg_scd2_new", "_tg_scd2_seen", "_tg_scd2_events", "_tg_scd2_history"
GONE, CHANGED, HELD = "_tg_scd2_gone", "_tg_scd2_changed", "_tg_scd2_held"
BATCH_TEMPS = (STAGE, ROWS, MISSING, VERSIONS, HELD, KEYS)
TEMPS = (*BATCH_TEMPS, WINDOW, NEW, SEEN, EVENTS, HISTORY, GONE, CHANGED)


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
    def validity(self) -> list[str]:
        """What a version gets from its place in the history."""
        h = self.h
        return [h.valid_from, h.valid_to, h.is_current, h.is_deleted]

    @property
    def version(self) -> list[str]:
        """A version without its business columns: enough to place it in a history."""
        return [*self.key, *self.validity, self.h.row_hash]

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


@dataclass(frozen=True)
class Batch:
    """One file's rows and what the target holds for their keys, as temporary tables."""

    rows: exp.Table  # one per key and time
    missing: exp.Table | None  # (invalidate) keys in force at the snapshot's time, absent
    versions: exp.Table  # the existing versions of these keys (``Layout.version``)
    held: exp.Table | None  # these keys with a recorded observation; None: no fast path
    one_time: bool  # every row has the same time

    @property
    def fast(self) -> bool:
        """Keys without history may skip the event machinery."""
        return self.held is not None

    def known(self, layout: Layout, alias: str) -> exp.Expr:
        """The key of row ``alias`` has a version or a recorded observation (always, when
        there is no fast path). One EXISTS over both, which engines plan as a semi-join."""
        if self.held is None:
            return exp.true()
        versions = exp.select(*cols(layout.key)).from_(self.versions)
        held = exp.select(*cols(layout.key)).from_(self.held)
        history = exp.union(versions, held, distinct=False).subquery("_tg_known")
        return one(history, same_key(layout.key, "_tg_known", alias))

    def fresh(self, layout: Layout, alias: str) -> exp.Expr:
        """The key of row ``alias`` has no version and no recorded observation."""
        return exp.not_(self.known(layout, alias)) if self.fast else exp.false()


def scd2_columns(target: TargetConfig) -> Columns:
    """The table's columns: business, lineage, row hash, validity, flags."""
    return Layout(target, table("_tg_t"), table("_tg_o"), table("_tg_s")).columns


def prepare(wh: Warehouse, name: str, target: TargetConfig, created: bool) -> None:
    """Indexes and observation tables; a newly created target forgets earlier observations.

    The target is indexed on (key, valid_from): how a load finds the versions it changes.
    No column of the index is ever updated, so closing a version rewrites nothing indexed.
    Only where joins read indexes (``Warehouse.JOIN_INDEXES``). The index on
    (key, is_current) of earlier versions is dropped: closing a version updated it.
    """
    layout = Layout.of(wh, name, target)
    core, meta = wh.schemas.core, wh.schemas.meta
    wh.drop_index(name, core, f"{name}__key_current")
    wh.ensure_join_index(name, core, f"{name}__key_from", [*layout.key, layout.h.valid_from])
    wh.ensure_schema(meta)
    stamp = (OBSERVED_AT, data_type("timestamp"))
    keys = [(c, kind) for c, kind in business_columns(target) if c in layout.key]
    wh.ensure_table(layout.observed.name, meta, [*keys, stamp])
    wh.ensure_table(layout.snapshots.name, meta, [stamp])
    observed_key = f"{name}__observed_key"
    wh.ensure_join_index(layout.observed.name, meta, observed_key, [*layout.key, OBSERVED_AT])
    if created:
        wh.execute(exp.delete(layout.observed))
        wh.execute(exp.delete(layout.snapshots))


def scd2(
    wh: Warehouse, name: str, target: TargetConfig, rows: Batches, ctx: LoadContext
) -> Applied:
    """Load one file's rows: Arrow batches, or a query of the compute engine, which the
    embedded warehouse stages with ``INSERT ... SELECT`` (never through Python)."""
    layout = Layout.of(wh, name, target)
    if layout.h.valid_from not in names_of(rows):
        rows = _timed(rows, layout.h.valid_from, ctx.effective_at)
    rows = only_columns(rows, [c for c, _ in layout.staged], "scd2")
    staged = wh.stage(STAGE, layout.staged, rows)
    check_keys(wh, staged, layout.key, name)
    applied = _load(wh, layout, staged, ctx)
    for temp in TEMPS:  # after a failure the caller's rollback removes them
        wh.drop_temp(temp)
    return applied


def _timed(rows: Batches, name: str, at: datetime) -> Batches:
    """The rows with one more column ``name``: the file's effective time."""
    if isinstance(rows, pa.RecordBatchReader):
        return with_column(rows, name, at, pa.timestamp("us"))
    when = named(exp.cast(lit(at), "timestamp"), name)
    query = exp.select(*cols(rows.names), when).from_(rows.query.subquery("_tg_rows"))
    return Rows(rows.con, query)


def _load(wh: Warehouse, layout: Layout, staged: exp.Table, ctx: LoadContext) -> Applied:
    at = exp.cast(lit(ctx.effective_at), "timestamp")
    invalidate = layout.target.history.deletes == "invalidate"
    batch = _batch(wh, layout, staged, at, invalidate)
    loaded = _insert_fresh(wh, layout, batch)
    keys = temp(wh, KEYS, _affected(layout, batch))
    rewritten = _rewrite(wh, layout, batch, keys) if count_of(wh, keys) else None
    loaded += rewritten.loaded if rewritten else 0
    _observe(wh, layout, batch, ctx, invalidate, rewritten)
    received = count_of(wh, staged)
    kept = received if batch.rows is staged else count_of(wh, batch.rows)
    return Applied(loaded=loaded, unchanged=kept - loaded, superseded=received - kept)


def _batch(
    wh: Warehouse, layout: Layout, staged: exp.Table, at: exp.Expr, invalidate: bool
) -> Batch:
    """The rows, the snapshot's absent keys, and the one pass over the target."""
    rows = wh.analyzed(_one_per_time(wh, layout, staged, at))
    missing = temp(wh, MISSING, _missing(layout, rows, at)) if invalidate else None
    versions = temp(wh, VERSIONS, _versions(layout, rows, missing))
    fast = _no_later_snapshot(wh, layout, rows)
    held = temp(wh, HELD, _held(layout, rows)) if fast else None
    vf = col(layout.h.valid_from)
    first, last = wh.execute(exp.select(exp.Min(this=vf), exp.Max(this=vf.copy())).from_(rows))[0]
    return Batch(rows, missing, versions, held, first == last)


@dataclass(frozen=True)
class Rewritten:
    """The affected keys' new history, and what it did to the table."""

    loaded: int  # rows of this file that start a version
    history: exp.Table
    gone: exp.Table  # versions deleted


def _rewrite(wh: Warehouse, layout: Layout, batch: Batch, keys: exp.Table) -> Rewritten:
    """Recompute the affected keys' history from the first changed time."""
    window = temp(wh, WINDOW, _window(layout, batch.versions, keys))
    new = temp(wh, NEW, _new_events(layout, batch, keys))
    seen = temp(wh, SEEN, _seen(layout, keys))
    events = temp(wh, EVENTS, _events(layout, new, window, seen))
    history = temp(wh, HISTORY, _history(layout, events))
    gone = temp(wh, GONE, _gone(layout, window, history))
    changed = temp(wh, CHANGED, _changed(layout, window, history))
    loaded = count_of(wh, history.as_("_tg_h"), _added(layout, window, 1))
    if count_of(wh, history.as_("_tg_h"), _added(layout, window, 0)):
        wh.execute(_insert_resumed(layout, window, history))  # reads versions about to go
    if count_of(wh, gone):
        wh.execute(_delete_gone(layout, gone))
    if count_of(wh, changed):
        wh.execute(_update_kept(layout, changed))
    if loaded:
        wh.execute(_insert_new(layout, batch.rows, window, history))
    return Rewritten(loaded, history, gone)


def temp(wh: Warehouse, name: str, query: exp.Query) -> exp.Table:
    """A temporary table of the query's rows, with statistics where the planner needs them."""
    return wh.analyzed(wh.create_temp(name, query))


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


def union_all(parts: Sequence[exp.Query]) -> exp.Query:
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return query


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


def same_start(layout: Layout, left: str | exp.Table, right: str, start: str = "") -> exp.Expr:
    """``left`` (an alias, or the target by its full name) and ``right`` have the same key
    and ``right``'s column ``start`` (default: valid_from) is ``left``'s valid_from."""
    vf = layout.h.valid_from
    if isinstance(left, exp.Table):
        pairs = [(full_col(left, k), col(k, right)) for k in layout.key]
        pairs.append((full_col(left, vf), col(start or vf, right)))
    else:
        pairs = [(col(k, left), col(k, right)) for k in layout.key]
        pairs.append((col(vf, left), col(start or vf, right)))
    return exp.and_(*[a.eq(b) for a, b in pairs])


def same_version(layout: Layout, left: str, right: str) -> exp.Expr:
    """``left`` and ``right`` are one version: same key, start and row hash."""
    row_hash = col(layout.h.row_hash, left).eq(col(layout.h.row_hash, right))
    return exp.and_(same_start(layout, left, right), row_hash)


# --------------------------------------------------------------------------- the batch


def _one_per_time(wh: Warehouse, layout: Layout, staged: exp.Table, at: exp.Expr) -> exp.Table:
    """One row per key and time; a row without a time takes the file's effective time."""
    vf = layout.h.valid_from
    untimed = col(vf).is_(exp.null())
    if count_of(wh, staged, untimed):  # a time column may have gaps; usually it has none
        setting = [exp.EQ(this=col(vf), expression=at)]
        wh.execute(
            exp.Update(this=staged.copy(), expressions=setting, where=exp.Where(this=untimed))
        )
    names = [c for c, _ in layout.staged]
    order = last_first(layout.target)
    return last_of_each(wh, staged, ROWS, names, [*layout.key, vf], order)


def _missing(layout: Layout, rows: exp.Table, at: exp.Expr) -> exp.Select:
    """Keys in force at the snapshot's time that the snapshot lacks."""
    return (
        exp.select(*cols(layout.key, "_tg_t"), named(at, AT))
        .from_(layout.table.as_("_tg_t"))
        .where(in_force(layout, "_tg_t", at.copy()))
        .where(exp.not_(one(rows.as_("_tg_r"), same_key(layout.key, "_tg_r", "_tg_t"))))
    )


def _versions(layout: Layout, rows: exp.Table, missing: exp.Table | None) -> exp.Select:
    """The existing versions of the batch's keys and absent keys: the one read of the
    target that every later statement works from."""
    keys: exp.Query = exp.select(*cols(layout.key)).from_(rows)
    if missing is not None:
        keys = exp.union(keys, exp.select(*cols(layout.key)).from_(missing), distinct=False)
    listed = one(keys.subquery("_tg_b"), same_key(layout.key, "_tg_b", "_tg_t"))
    return exp.select(*cols(layout.version, "_tg_t")).from_(layout.table.as_("_tg_t")).where(listed)


def _held(layout: Layout, rows: exp.Table) -> exp.Select:
    """The batch's keys with a recorded observation (usually, keys with versions too)."""
    listed = one(rows.as_("_tg_r"), same_key(layout.key, "_tg_r", "_tg_o"))
    return (
        exp.select(*cols(layout.key, "_tg_o"))
        .distinct()
        .from_(layout.observed.as_("_tg_o"))
        .where(listed)
    )


def _no_later_snapshot(wh: Warehouse, layout: Layout, rows: exp.Table) -> bool:
    """No full snapshot is later than the batch's first time: a key without history is then
    observed only by this file's rows."""
    first = exp.select(exp.Min(this=col(layout.h.valid_from))).from_(rows).subquery()
    return not count_of(wh, layout.snapshots, exp.GT(this=col(OBSERVED_AT), expression=first))


def _affected(layout: Layout, batch: Batch) -> exp.Select:
    """Keys whose history changes, with the earliest time it changes from.

    A row is a change unless the version in force at its time has its hash; the anti-join
    is written as LEFT JOIN ... IS NULL, which engines plan as a hash join on key and hash.
    """
    h = layout.h
    same = exp.and_(
        same_key(layout.key, "_tg_v", "_tg_r"),
        col(h.row_hash, "_tg_v").eq(col(h.row_hash, "_tg_r")),
        in_force(layout, "_tg_v", col(h.valid_from, "_tg_r")),
    )
    changed = (
        exp.select(*cols(layout.key, "_tg_r"), named(col(h.valid_from, "_tg_r"), AT))
        .from_(batch.rows.as_("_tg_r"))
        .join(batch.versions.as_("_tg_v"), on=same, join_type="left")
        .where(col(h.valid_from, "_tg_v").is_(exp.null()))
        .where(batch.known(layout, "_tg_r"))
    )
    parts: list[exp.Query] = [changed]
    if batch.missing is not None:
        parts.append(exp.select(*cols(layout.key), col(AT)).from_(batch.missing))
    return (
        exp.select(*cols(layout.key), named(exp.Min(this=col(AT)), FROM))
        .from_(union_all(parts).subquery("_tg_changes"))
        .group_by(*cols(layout.key))
    )


# --------------------------------------------------------------------------- fresh keys


def _insert_fresh(wh: Warehouse, layout: Layout, batch: Batch) -> int:
    """Versions of keys without history, straight from their rows; returns how many."""
    if not batch.fast:
        return 0
    query = _fresh_versions(layout, batch)
    inserted = count_of(wh, query.subquery("_tg_fresh"))
    if inserted:
        wh.execute(_insert(layout, query))
    return inserted


def _fresh_versions(layout: Layout, batch: Batch) -> exp.Select:
    """A fresh key's rows compressed: one current version when the file has one time."""
    h, carried = layout.h, layout.carried_names
    rows = exp.select().from_(batch.rows.as_("_tg_r")).where(batch.fresh(layout, "_tg_r"))
    if batch.one_time:
        return rows.select(
            *cols([*carried, h.valid_from], "_tg_r"),
            named(layout.open_end(typed_null(data_type("timestamp"))), h.valid_to),
            named(exp.true(), h.is_current),
            named(exp.false(), h.is_deleted),
        )
    starts = exp.select(*cols([*carried, h.valid_from])).from_(
        _fresh_marked(layout, rows).subquery("_tg_marked")
    )
    starts = starts.where(col(h.row_hash).neq(col(PREV)))
    later = [exp.Ordered(this=col(h.valid_from))]
    linked = exp.select(
        *cols([*carried, h.valid_from]),
        named(over(exp.Lead(this=col(h.valid_from)), layout.key, later), NEXT_AT),
    ).from_(starts.subquery("_tg_starts"))
    return exp.select(
        *cols([*carried, h.valid_from]),
        named(layout.open_end(col(NEXT_AT)), h.valid_to),
        named(flag(col(NEXT_AT).is_(exp.null())), h.is_current),
        named(exp.false(), h.is_deleted),
    ).from_(linked.subquery("_tg_linked"))


def _fresh_marked(layout: Layout, rows: exp.Select) -> exp.Select:
    """Fresh rows with the previous row hash of their key (``''`` for the first)."""
    h = layout.h
    lag = exp.Lag(this=col(h.row_hash, "_tg_r"), offset=lit(1), default=lit(""))
    earlier = [exp.Ordered(this=col(h.valid_from, "_tg_r"))]
    return rows.copy().select(
        *cols([*layout.carried_names, h.valid_from], "_tg_r"),
        named(over(lag, layout.key, earlier), PREV),
    )


# --------------------------------------------------------------------------- events


def _window(layout: Layout, versions: exp.Table, keys: exp.Table) -> exp.Select:
    """Versions of affected keys from the one in force at the earliest new time on."""
    h = layout.h
    reaches = exp.or_(
        col(h.is_current, "_tg_v").eq(exp.true()),
        exp.GTE(this=col(h.valid_to, "_tg_v"), expression=col(FROM, "_tg_k")),
    )
    return (
        exp.select(*cols(layout.version, "_tg_v"))
        .from_(versions.as_("_tg_v"))
        .join(keys.as_("_tg_k"), on=same_key(layout.key, "_tg_v", "_tg_k"))
        .where(reaches)
    )


def _event(
    layout: Layout, alias: str, at: exp.Expr, prio: int, state: exp.Expr, source: exp.Expr
) -> list[exp.Expr]:
    """The columns of an event: key, time, priority (1: this file), state, and the start
    of the version whose business columns a version starting here takes (if not new)."""
    return [
        *cols(layout.key, alias),
        named(at, AT),
        named(lit(prio), PRIO),
        named(state, STATE),
        named(source, SOURCE),
    ]


def no_source() -> exp.Expr:
    return typed_null(data_type("timestamp"))


def _new_events(layout: Layout, batch: Batch, keys: exp.Table) -> exp.Query:
    """This file's rows of affected keys from their first change on, and its absences."""
    h = layout.h
    present = (
        exp.select(
            *_event(
                layout,
                "_tg_r",
                col(h.valid_from, "_tg_r"),
                1,
                col(h.row_hash, "_tg_r"),
                no_source(),
            )
        )
        .from_(batch.rows.as_("_tg_r"))
        .join(keys.as_("_tg_k"), on=same_key(layout.key, "_tg_r", "_tg_k"))
        .where(exp.GTE(this=col(h.valid_from, "_tg_r"), expression=col(FROM, "_tg_k")))
    )
    if batch.missing is None:
        return present
    absent = exp.select(
        *_event(layout, "_tg_m", col(AT, "_tg_m"), 1, lit(ABSENT), no_source())
    ).from_(batch.missing.as_("_tg_m"))
    return exp.union(present, absent, distinct=False)


def _seen(layout: Layout, keys: exp.Table) -> exp.Select:
    """Recorded observations of affected keys after their first change."""
    return (
        exp.select(*cols([*layout.key, OBSERVED_AT], "_tg_o"))
        .from_(layout.observed.as_("_tg_o"))
        .join(keys.as_("_tg_k"), on=same_key(layout.key, "_tg_o", "_tg_k"))
        .where(exp.GT(this=col(OBSERVED_AT, "_tg_o"), expression=col(FROM, "_tg_k")))
    )


def _events(layout: Layout, new: exp.Table, window: exp.Table, seen: exp.Table) -> exp.Query:
    h = layout.h
    starts = exp.select(
        *_event(
            layout,
            "_tg_w",
            col(h.valid_from, "_tg_w"),
            0,
            col(h.row_hash, "_tg_w"),
            col(h.valid_from, "_tg_w"),
        )
    ).from_(window.as_("_tg_w"))
    ends = (  # deleted versions end in an absence
        exp.select(*_event(layout, "_tg_w", col(h.valid_to, "_tg_w"), 0, lit(ABSENT), no_source()))
        .from_(window.as_("_tg_w"))
        .where(col(h.is_deleted, "_tg_w").eq(exp.true()))
    )
    parts = [exp.select(*cols([*layout.key, AT, PRIO, STATE, SOURCE])).from_(new), starts, ends]
    return union_all([*parts, _next_observations(layout, new, window, seen)])


def _next_observations(
    layout: Layout, new: exp.Table, window: exp.Table, seen: exp.Table
) -> exp.Select:
    """The first recorded observation after each new event, in the table's state then."""
    h = layout.h
    moment = col(AT, "_tg_a")
    on = exp.and_(same_key(layout.key, "_tg_w", "_tg_a"), in_force(layout, "_tg_w", moment))
    state = exp.Coalesce(this=col(h.row_hash, "_tg_w"), expressions=[lit(ABSENT)])
    return (
        exp.select(*_event(layout, "_tg_a", moment.copy(), 0, state, col(h.valid_from, "_tg_w")))
        .from_(_next_times(layout, new, seen).subquery("_tg_a"))
        .join(window.as_("_tg_w"), on=on, join_type="left")
    )


def _next_times(layout: Layout, new: exp.Table, seen: exp.Table) -> exp.Select:
    """Per new event: the earliest later time its key was observed (by key or snapshot).

    Joins and GROUP BY rather than correlated subqueries, which some planners run per row.
    """
    event = [*layout.key, AT]
    later = exp.GT(this=col(OBSERVED_AT, "_tg_o"), expression=col(AT, "_tg_n"))
    by_key = (
        exp.select(*cols(event, "_tg_n"), named(col(OBSERVED_AT, "_tg_o"), LATER))
        .from_(new.as_("_tg_n"))
        .join(seen.as_("_tg_o"), on=exp.and_(same_key(layout.key, "_tg_o", "_tg_n"), later))
    )
    snapshots = _next_snapshots(layout, new).subquery("_tg_f")
    by_file = (
        exp.select(*cols(event, "_tg_n"), col(LATER, "_tg_f"))
        .from_(new.as_("_tg_n"))
        .join(snapshots, on=col(AT, "_tg_f").eq(col(AT, "_tg_n")))
    )
    earliest = (
        exp.select(*cols(event), named(exp.Min(this=col(LATER)), LATER))
        .from_(exp.union(by_key, by_file, distinct=False).subquery("_tg_c"))
        .group_by(*cols(event))
    )
    return (
        exp.select(*cols(layout.key), named(col(LATER), AT))
        .distinct()
        .from_(earliest.subquery("_tg_e"))
    )


def _next_snapshots(layout: Layout, new: exp.Table) -> exp.Select:
    """Per time of a new event: the first full snapshot after it."""
    times = exp.select(col(AT)).distinct().from_(new).subquery("_tg_d")
    later = exp.GT(this=col(OBSERVED_AT, "_tg_s"), expression=col(AT, "_tg_d"))
    return (
        exp.select(col(AT, "_tg_d"), named(exp.Min(this=col(OBSERVED_AT, "_tg_s")), LATER))
        .from_(times)
        .join(layout.snapshots.as_("_tg_s"), on=later)
        .group_by(col(AT, "_tg_d"))
    )


# --------------------------------------------------------------------------- history


def _history(layout: Layout, events: exp.Table) -> exp.Select:
    """Events compressed into versions: each change lasts until the next change."""
    h = layout.h
    changes = _changes(layout, events)
    at = exp.Ordered(this=col(AT))
    linked = exp.select(
        *cols([*layout.key, AT, PRIO, STATE, SOURCE]),
        named(over(exp.Lead(this=col(AT)), layout.key, [at]), NEXT_AT),
        named(over(exp.Lead(this=col(STATE)), layout.key, [at.copy()]), NEXT_STATE),
    ).from_(changes.subquery("_tg_changes"))
    return (
        exp.select(
            *cols(layout.key),
            named(col(AT), h.valid_from),
            named(layout.open_end(col(NEXT_AT)), h.valid_to),
            named(flag(col(NEXT_AT).is_(exp.null())), h.is_current),
            named(flag(col(NEXT_STATE).eq(lit(ABSENT))), h.is_deleted),
            named(col(STATE), h.row_hash),
            col(PRIO),
            col(SOURCE),
        )
        .from_(linked.subquery("_tg_linked"))
        .where(col(STATE).neq(lit(ABSENT)))
    )


def _changes(layout: Layout, events: exp.Table) -> exp.Select:
    """One event per key and time (a new one first), kept when its state differs from the
    previous event's."""
    names = [*layout.key, AT, PRIO, STATE, SOURCE]
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


def _added(layout: Layout, window: exp.Table, prio: int) -> exp.Expr:
    """History rows (``_tg_h``) of this file (prio 1), or resumed by a later observation
    (prio 0), that are not versions yet."""
    known = one(window.as_("_tg_w"), same_version(layout, "_tg_w", "_tg_h"))
    return exp.and_(col(PRIO, "_tg_h").eq(lit(prio)), exp.not_(known))


def _gone(layout: Layout, window: exp.Table, history: exp.Table) -> exp.Select:
    """Versions of the affected window that the new history no longer has."""
    kept = one(history.as_("_tg_h"), same_version(layout, "_tg_w", "_tg_h"))
    names = [*layout.key, layout.h.valid_from]
    return exp.select(*cols(names, "_tg_w")).from_(window.as_("_tg_w")).where(exp.not_(kept))


def _changed(layout: Layout, window: exp.Table, history: exp.Table) -> exp.Select:
    """Versions that stay, with their new end and flags where these differ."""
    h = layout.h
    changing = [h.valid_to, h.is_current, h.is_deleted]
    differs = exp.or_(*[_distinct(col(n, "_tg_w"), col(n, "_tg_h")) for n in changing])
    return (
        exp.select(*cols([*layout.key, h.valid_from, *changing], "_tg_h"))
        .from_(history.as_("_tg_h"))
        .join(window.as_("_tg_w"), on=same_version(layout, "_tg_w", "_tg_h"))
        .where(differs)
    )


def _delete_gone(layout: Layout, gone: exp.Table) -> exp.Delete:
    listed = one(gone.as_("_tg_g"), same_start(layout, layout.table, "_tg_g"))
    return exp.delete(layout.table, where=listed)


def _update_kept(layout: Layout, changed: exp.Table) -> exp.Update:
    """Versions that stay get their new end, current and deleted flags."""
    h = layout.h
    changing = [h.valid_to, h.is_current, h.is_deleted]
    setting = [exp.EQ(this=col(n), expression=col(n, "_tg_c")) for n in changing]
    return exp.Update(
        this=layout.table.copy(),
        expressions=setting,
        from_=exp.From(this=changed.as_("_tg_c")),
        where=exp.Where(this=same_start(layout, layout.table, "_tg_c")),
    )


def _distinct(left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """``left`` and ``right`` differ, NULL counting as a value (portable IS DISTINCT FROM)."""
    only_left = exp.and_(right.is_(exp.null()), exp.not_(left.is_(exp.null())))
    only_right = exp.and_(left.is_(exp.null()), exp.not_(right.is_(exp.null())))
    return exp.paren(exp.or_(left.neq(right), only_left, only_right))


def _insert(layout: Layout, query: exp.Select) -> exp.Insert:
    names = [exp.to_identifier(n, quoted=True) for n, _ in layout.columns]
    return exp.insert(query, layout.table, columns=names)


def _placed(layout: Layout, source: str, history: exp.Table) -> list[exp.Expr]:
    """A new version: the carried columns of ``source``, the validity of its history row."""
    return [*cols(layout.carried_names, source), *cols(layout.validity, "_tg_h")]


def _insert_new(
    layout: Layout, rows: exp.Table, window: exp.Table, history: exp.Table
) -> exp.Insert:
    """Versions started by this file's rows."""
    on = same_start(layout, "_tg_r", "_tg_h")
    query = (
        exp.select(*_placed(layout, "_tg_r", history))
        .from_(history.as_("_tg_h"))
        .join(rows.as_("_tg_r"), on=on)
        .where(_added(layout, window, 1))
    )
    return _insert(layout, query)


def _insert_resumed(layout: Layout, window: exp.Table, history: exp.Table) -> exp.Insert:
    """Versions that resume at a later observation after a late row: they take the business
    columns of the version in force then, read from the target by key and start."""
    on = same_start(layout, "_tg_t", "_tg_h", SOURCE)
    query = (
        exp.select(*_placed(layout, "_tg_t", history))
        .from_(history.as_("_tg_h"))
        .join(layout.table.as_("_tg_t"), on=on)
        .where(_added(layout, window, 0))
    )
    return _insert(layout, query)


# --------------------------------------------------------------------------- observe


def _observe(
    wh: Warehouse,
    layout: Layout,
    batch: Batch,
    ctx: LoadContext,
    invalidate: bool,
    rewritten: Rewritten | None,
) -> None:
    """Remember when keys were seen: per file for snapshots; per key for partial files,
    where the table does not show it as the start of a version."""
    if invalidate:
        seen = col(OBSERVED_AT).eq(exp.cast(lit(ctx.effective_at), "timestamp"))
        if not count_of(wh, layout.snapshots, seen):
            wh.execute(insert_values(layout.snapshots, [OBSERVED_AT], [[ctx.effective_at]]))
        return
    parts = [_unshown_rows(layout, batch, rewritten)]
    if batch.fast and not batch.one_time:
        parts.append(_fresh_repeats(layout, batch))
    if rewritten:
        parts.append(_folded_starts(layout, rewritten))
    found = union_all(parts).subquery("_tg_x")
    recorded = one(
        layout.observed.as_("_tg_o"),
        same_key(layout.key, "_tg_o", "_tg_x"),
        col(OBSERVED_AT, "_tg_o").eq(col(OBSERVED_AT, "_tg_x")),
    )
    query = (
        exp.select(*cols([*layout.key, OBSERVED_AT], "_tg_x"))
        .distinct()
        .from_(found)
        .where(exp.not_(recorded))
    )
    columns = [exp.to_identifier(n, quoted=True) for n in [*layout.key, OBSERVED_AT]]
    wh.execute(exp.insert(query, layout.observed, columns=columns))


def _observation(layout: Layout, alias: str, at: str) -> list[exp.Expr]:
    return [*cols(layout.key, alias), named(col(at, alias), OBSERVED_AT)]


def _unshown_rows(layout: Layout, batch: Batch, rewritten: Rewritten | None) -> exp.Select:
    """Rows of keys with history whose time is not the start of a version after the load."""
    shown = one(_shown(layout, batch, rewritten), same_start(layout, "_tg_s", "_tg_r"))
    return (
        exp.select(*_observation(layout, "_tg_r", layout.h.valid_from))
        .from_(batch.rows.as_("_tg_r"))
        .where(batch.known(layout, "_tg_r"))
        .where(exp.not_(shown))
    )


def _shown(layout: Layout, batch: Batch, rewritten: Rewritten | None) -> exp.Subquery:
    """(key, start) of the versions of the batch's keys after the load: those that stay,
    and those of the new history."""
    starts = [*layout.key, layout.h.valid_from]
    if rewritten is None:
        return exp.select(*cols(starts)).from_(batch.versions).subquery("_tg_s")
    gone = one(rewritten.gone.as_("_tg_g"), same_start(layout, "_tg_g", "_tg_v"))
    stay = (
        exp.select(*cols(starts, "_tg_v")).from_(batch.versions.as_("_tg_v")).where(exp.not_(gone))
    )
    new = exp.select(*cols(starts)).from_(rewritten.history)
    return exp.union(stay, new, distinct=False).subquery("_tg_s")


def _fresh_repeats(layout: Layout, batch: Batch) -> exp.Select:
    """Rows of fresh keys equal to the key's previous row: they start no version."""
    rows = exp.select().from_(batch.rows.as_("_tg_r")).where(batch.fresh(layout, "_tg_r"))
    marked = _fresh_marked(layout, rows).subquery("_tg_m")
    return (
        exp.select(*_observation(layout, "_tg_m", layout.h.valid_from))
        .from_(marked)
        .where(col(layout.h.row_hash, "_tg_m").eq(col(PREV, "_tg_m")))
    )


def _folded_starts(layout: Layout, rewritten: Rewritten) -> exp.Select:
    """Starts of deleted versions that no new version starts at: they were observations."""
    restarted = one(rewritten.history.as_("_tg_h"), same_start(layout, "_tg_h", "_tg_g"))
    return (
        exp.select(*_observation(layout, "_tg_g", layout.h.valid_from))
        .from_(rewritten.gone.as_("_tg_g"))
        .where(exp.not_(restarted))
    )
