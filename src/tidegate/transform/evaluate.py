"""Evaluate a source's outputs over one file's records, set-wise in the compute engine.

Each output of a large file is a view over the read table (``_tg_out_<i>``: typed values
beside the mapped ones), so the file is never copied whole: only its bad rows and
duplicates are stored, and the good rows (``_tg_good_<i>``, a view too) are computed once
more as they load. A small file's outputs are tables instead: binding the checked query
once costs less than binding it for every use (and a source that unnests, whose rows cost
a parse of the record's list each time, has tables whatever the size); the rows that do
not load are then deleted from them, so each is its own good rows (no view to bind again
at every use). The reasons
are listed once, for the rows that break a rule (``_bad_rows``), not stored with every
row. The SQL of a source is rendered once per run (``Plan``) and run for every file.

A *record* (one row read from the file) is the unit of the outcome: if any row it yields
for any output breaks a rule, the whole record goes to quarantine with every reason, so a
parent never loads without its children nor a child without its parent. Counts follow:
``rows_read = loaded + quarantined + duplicate`` (the warehouse later splits loaded rows
into loaded and unchanged).
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.compute.work import temp_create
from tidegate.config.models import OutputConfig, SourceConfig, TargetConfig
from tidegate.read.many import file_of_row, row_in_file
from tidegate.sql import col, column_defs, data_type, lit, table
from tidegate.transform.mapping import FILE_CTE, ITEM, REASONS, ROW, output_rows, reasons
from tidegate.transform.references import Lookup, check_references
from tidegate.transform.rules import RAW_SUFFIX, Failure, failures, raw, reason_struct
from tidegate.transform.spark import to_spark

BAD = "_tg_bad"
BROKEN = "_tg_broken"  # a stored output row that breaks a rule (its reasons listed later)
KEYED_LOADS = ("merge", "scd2")  # loads that find a row's earlier version by its key
# Up to this many records an output is stored as a table; above, it stays a view (unless
# the source unnests: ``evaluate``).
STORED_ROWS = 100_000
DUPLICATE = "_tg_duplicate"
FIRST, KEPT_LAST = "_tg_first", "_tg_last"  # a repeated key's first and last rows
BATCH_FILE = "_tg_batch_file"  # a batch row's file, beside its key


@dataclass
class Outcome:
    """Where the results of one file are, in the compute engine, and how many."""

    outputs: list[tuple[OutputConfig, str]] = field(default_factory=list)  # (output, table)
    bad_table: str = BAD  # _row, target, _reasons
    rows_quarantined: int = 0
    rows_duplicate: int = 0


def set_file_values(con: Engine, values: exp.Select) -> None:
    con.create(FILE_CTE, values)


def out_table(index: int) -> str:
    return f"_tg_out_{index}"


def good_table(index: int) -> str:
    return f"_tg_good_{index}"


def key_failures(target: TargetConfig) -> list[Failure]:
    """A merge or scd2 row without a value in a key column: it can match no earlier
    version, so it is quarantined with a ``key`` reason instead of failing the file."""
    if target.load not in KEYED_LOADS:
        return []
    return [
        Failure("key", name, col(name).is_(exp.null()), "a key column has no value")
        for name in target.key
        if not target.columns[name].required  # ``required`` already gives the reason
    ]


def _rules(target: TargetConfig) -> list[Failure]:
    return [*failures(target.columns), *key_failures(target)]


def _flagged(
    rows: exp.Select, output: OutputConfig, target: TargetConfig, rules: list[Failure]
) -> exp.Select:
    """One output's typed rows as stored: ``_tg_broken`` true where any rule fails, and the
    mapped values kept for those rows only (only their reasons quote them).

    The casts and the rules' conditions are computed here, once per row; the reasons
    (``_bad_rows``) and the good rows (``_good``) are then read from what this stored.
    """
    broken = exp.or_(*[f.condition.copy() for f in rules], copy=False) if rules else exp.false()
    flag = exp.alias_(exp.Coalesce(this=broken, expressions=[exp.false()]), BROKEN, quoted=True)
    typed = rows.subquery("_tg_typed", copy=False)
    flagged = exp.select(exp.Star(), flag, copy=False).from_(typed, copy=False)
    keys = [col(ROW)] + ([col(ITEM)] if output.unnest else [])
    kept = [  # built as nodes: ``exp.case().when`` copies and parses (10,000 columns: 1.5 s)
        exp.alias_(
            exp.Case(ifs=[exp.If(this=col(BROKEN), true=raw(name))]),
            name + RAW_SUFFIX,
            quoted=True,
            copy=False,
        )
        for name in target.columns
    ]
    values = [col(name) for name in target.columns]
    select = exp.select(*keys, *values, *kept, col(BROKEN), copy=False)
    return select.from_(flagged.subquery("_tg_flagged", copy=False), copy=False)


def _bad_rows(index: int, output: OutputConfig, rules: list[Failure]) -> exp.Select:
    """Rows of one output that break a rule: (_row, target, reasons), listed for the rows
    flagged broken only (``_flagged``)."""
    select = exp.select(
        col(ROW),
        exp.alias_(lit(output.target), "target", quoted=True),
        reasons(rules),
        copy=False,
    )
    return select.from_(table(out_table(index)), copy=False).where(col(BROKEN), copy=False)


def _duplicate_reason(key: list[str], first_row: exp.Expr) -> exp.Expr:
    value = exp.func("concat_ws", lit(", "), *[exp.cast(col(k), "varchar") for k in key])
    message = exp.func(
        "concat", lit("duplicate key; first seen at row "), exp.cast(first_row, "varchar")
    )
    return exp.Array(expressions=[reason_struct("duplicate", ", ".join(key), value, message)])


def _keyed(index: int, key: list[str], batch: bool) -> exp.Select:
    """Rows not already bad that have a key: (key..., _row); in a batch with their file's
    number too (a key is a duplicate only within one file)."""
    in_file = [exp.alias_(file_of_row(), BATCH_FILE, quoted=True)] if batch else []
    not_bad = exp.not_(col(ROW).isin(query=exp.select(col(ROW)).from_(table(BAD))))
    return (
        exp.select(*[col(k) for k in key], *in_file, col(ROW))
        .from_(table(out_table(index)))
        .where(not_bad)
        .where(exp.and_(*[exp.not_(col(k).is_(exp.null())) for k in key]))
    )


def _later(index: int, key: list[str], keep_last: bool, batch: bool) -> exp.Select:
    """Rows whose key another row of the file has, except the one kept (the first in file
    order, or the last): (key..., _row, _tg_first).

    The keys are grouped first and only the rows of keys seen twice are looked at again,
    joined on the key: no window over every row (a sort of the whole file by key). In a
    batch the key is the key within each file, and the first row is counted in its file.
    """
    keyed = _keyed(index, key, batch)
    names = [*key, BATCH_FILE] if batch else key  # what a repeat has the same
    repeated = (
        exp.select(
            *[col(k) for k in names],
            exp.alias_(exp.Min(this=col(ROW)), FIRST, quoted=True),
            exp.alias_(exp.Max(this=col(ROW)), KEPT_LAST, quoted=True),
        )
        .from_(keyed.subquery("_tg_keyed"))
        .group_by(*[col(k) for k in names])
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=lit(1)))
    )
    kept = col(KEPT_LAST if keep_last else FIRST, "r")
    first = (
        exp.alias_(row_in_file(col(FIRST, "r")), FIRST, quoted=True) if batch else col(FIRST, "r")
    )
    return (
        exp.select(*[col(k) for k in names], col(ROW, "k"), first)
        .from_(keyed.copy().subquery("k"))
        .join(repeated.subquery("r"), using=[exp.to_identifier(k, quoted=True) for k in names])
        .where(exp.NEQ(this=col(ROW, "k"), expression=kept))
    )


def _key_duplicates(
    index: int, output: OutputConfig, target: TargetConfig, batch: bool
) -> list[exp.Expr]:
    """The target's duplicate-key policy over rows of this file, as statements."""
    if not target.key or target.duplicates == "keep":
        return []
    later = _later(index, target.key, target.duplicates == "keep_last", batch)
    if target.duplicates == "quarantine":
        key = target.key
        rows = exp.select(
            col(ROW),
            exp.alias_(lit(output.target), "target", quoted=True),
            exp.alias_(_duplicate_reason(key, col(FIRST)), REASONS, quoted=True),
        ).from_(later.subquery("_tg_later"))
        return [exp.insert(rows, table(BAD))]
    rows = exp.select(col(ROW)).from_(later.subquery("_tg_later"))
    return [exp.insert(rows, table(DUPLICATE))]


def _dropped() -> exp.Query:
    """The rows of a file that do not load: bad, or dropped as duplicates."""
    return exp.union(
        exp.select(col(ROW)).from_(table(BAD)),
        exp.select(col(ROW)).from_(table(DUPLICATE)),
    )


def _good(index: int) -> exp.Select:
    return (
        exp.select(exp.Star())
        .from_(table(out_table(index)))
        .where(exp.not_(col(ROW).isin(query=_dropped())))
    )


def _pruned(index: int) -> exp.Delete:
    """A stored output's rows that do not load, deleted: the table is then its good rows.

    A view of them instead is bound again at every use (counted, loaded), and at 10,000
    columns binding its ``SELECT *`` of 20,001 took 0.6 s to create, 0.9 s to count and
    0.4 s more to load from than the table.
    """
    return exp.delete(table(out_table(index)), where=col(ROW).isin(query=_dropped()))


def _work_tables() -> list[exp.Expr]:
    reason = exp.DataType.build(
        'STRUCT("rule" VARCHAR, "column" VARCHAR, "value" VARCHAR, "message" VARCHAR)[]',
        dialect="duckdb",
    )
    temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
    return [
        exp.Create(
            this=exp.Schema(this=table(name), expressions=column_defs(columns)),
            kind="TABLE",
            replace=True,
            properties=temporary,
        )
        for name, columns in (
            (
                BAD,
                [(ROW, data_type("bigint")), ("target", data_type("varchar")), (REASONS, reason)],
            ),
            (DUPLICATE, [(ROW, data_type("bigint"))]),
        )
    ]


def _counts() -> exp.Select:
    """Records quarantined, and records dropped as duplicates that are not also bad."""
    distinct = exp.Count(this=exp.Distinct(expressions=[col(ROW)]))
    bad = exp.select(distinct.copy()).from_(table(BAD))
    duplicate = exp.select(distinct).from_(table(DUPLICATE))
    duplicate = duplicate.where(
        exp.not_(col(ROW).isin(query=exp.select(col(ROW)).from_(table(BAD))))
    )
    return exp.select(bad.subquery(), duplicate.subquery())


def _same_file(
    source: SourceConfig, targets: Mapping[str, TargetConfig]
) -> dict[str, tuple[TargetConfig, str]]:
    """Each target this source's files yield: its config and the file's rows of it."""
    return {o.target: (targets[o.target], out_table(i)) for i, o in enumerate(source.outputs)}


def _sql(statements: Sequence[exp.Expr], dialect: str, copy: bool = True) -> list[str]:
    """SQL text; ``copy=False`` for statements rendered once and never used again."""
    transpile = TRANSPILERS.get(dialect)
    if transpile is not None:  # the compute dialect's own forms rewritten for the engine
        return [transpile(statement) for statement in statements]
    return [statement.sql(dialect=dialect, copy=copy) for statement in statements]


# Engines whose dialect needs more than sqlglot's rendering of the compute dialect.
TRANSPILERS: dict[str, Callable[[exp.Expr], str]] = {"spark": to_spark}
# Engines whose temporary table made from a query is a view (Spark's dialect renders
# ``CREATE TEMPORARY TABLE ... AS`` so): no row can be deleted from their stored outputs,
# so those keep a view of their good rows (``_pruned``).
QUERY_TABLES_ARE_VIEWS = frozenset({"spark"})


@dataclass
class Plan:
    """A source's evaluation: the outputs (as views for large files, tables for small ones,
    each rendered the first time a file needs it), the checks before and after the
    reference look-ups, the counts, as SQL text in the engine's ``dialect``."""

    outputs: list[tuple[str, exp.Select]]
    checks: list[str]
    settle: list[str]
    counts: str
    dialect: str = "duckdb"
    good_views: list[str] = field(default_factory=list)  # the good rows of outputs as views
    pruned: list[str] = field(default_factory=list)  # ...of outputs as tables (``_pruned``)

    # Both render the outputs' trees in place, without the copy sqlglot makes first (a third
    # of the time at 10,000 columns): its rewrites of these trees leave them rendering the
    # same text again, so the other kind can still be rendered from them later.
    @functools.cached_property
    def views(self) -> list[str]:
        with quiet_gc():
            made = [temp_create(name, query, "VIEW") for name, query in self.outputs]
            return _sql(made, self.dialect, copy=False)

    @functools.cached_property
    def tables(self) -> list[str]:
        with quiet_gc():
            made = [temp_create(name, query) for name, query in self.outputs]
            return _sql(made, self.dialect, copy=False)


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """The cyclic garbage collector held off while a plan's trees are built and rendered.

    A file of 10,000 columns builds millions of sqlglot nodes, all alive until the SQL is
    rendered, and each of Python's collections walks every one of them again, to find
    nothing to free (at 3,000 columns, holding it off cut building from 26 s to 8 s).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def plan(
    read_table: str,
    source: SourceConfig,
    targets: Mapping[str, TargetConfig],
    dialect: str = "duckdb",
    *,
    batch: bool = False,
) -> Plan:
    """Render a source's statements once, in the engine's ``dialect``; every file of the
    source runs the same text. A ``batch`` plan reads many files at once (rows numbered as
    ``read/many.py`` says), and settles duplicate keys within each file."""
    with quiet_gc():
        return _plan(read_table, source, targets, dialect, batch)


def _plan(
    read_table: str,
    source: SourceConfig,
    targets: Mapping[str, TargetConfig],
    dialect: str,
    batch: bool,
) -> Plan:
    outputs: list[tuple[str, exp.Select]] = []
    checks, settle = _work_tables(), list[exp.Expr]()
    for index, output in enumerate(source.outputs):
        target = targets[output.target]
        rules = _rules(target)
        rows = output_rows(read_table, source.derive, output, target)
        outputs.append((out_table(index), _flagged(rows, output, target, rules)))
        checks += [exp.insert(_bad_rows(index, output, rules), table(BAD), copy=False)]
        settle += _key_duplicates(index, output, target, batch)
    indexes = range(len(source.outputs))
    good_views = [temp_create(good_table(i), _good(i), "VIEW") for i in indexes]
    return Plan(
        outputs=outputs,
        checks=_sql(checks, dialect, copy=False),
        settle=_sql(settle, dialect, copy=False),
        counts=_sql([_counts()], dialect)[0],
        dialect=dialect,
        good_views=_sql(good_views, dialect, copy=False),
        pruned=_sql([_pruned(i) for i in indexes], dialect, copy=False),
    )


def evaluate(
    con: Engine,
    read_table: str,
    source: SourceConfig,
    targets: Mapping[str, TargetConfig],
    lookup: Lookup | None = None,
    compiled: Plan | None = None,
    records: int = 0,
    *,
    store: bool = False,
) -> Outcome:
    """Map and check every output; good rows, bad rows and duplicates in temp tables/views.

    ``records``: how many the file has, to choose between views and tables; ``store``: the
    outputs are tables whatever the size (the read table is no copy of the file in memory,
    so the typed rows are the one copy, computed once). A source that unnests has tables
    too: a view would parse every record's list again at each of its four uses (the
    checks, the duplicate keys, the count, the load), which took 0.3x of nested JSON
    Lines' time (docs/benchmarks.md).
    """
    steps = compiled or plan(read_table, source, targets, con.dialect)
    unnests = any(output.unnest for output in source.outputs)
    stored = store or unnests or records <= STORED_ROWS
    outputs = steps.tables if stored else steps.views
    pruned = stored and con.dialect not in QUERY_TABLES_ARE_VIEWS
    for statement in [*outputs, *steps.checks]:
        con.execute(statement)
    for index, output in enumerate(source.outputs):
        target = targets[output.target]
        if target.references and lookup is not None:
            check_references(
                con,
                out_table(index),
                output.target,
                target,
                BAD,
                lookup,
                _same_file(source, targets),
            )
    for statement in [*steps.settle, *(steps.pruned if pruned else steps.good_views)]:
        con.execute(statement)
    counted = con.execute(steps.counts)
    quarantined, duplicate = counted[0] if counted else (0, 0)
    outcome = Outcome(rows_quarantined=int(quarantined), rows_duplicate=int(duplicate))
    good = out_table if pruned else good_table
    outcome.outputs = [(output, good(i)) for i, output in enumerate(source.outputs)]
    return outcome


# Names of the work objects of one file, or the prefixes of numbered ones (one per output).
WORK_NAMES = (FILE_CTE, BAD, DUPLICATE, "_tg_read", "_tg_replay")
WORK_PREFIXES = ("_tg_out_", "_tg_good_")


def _is_work(name: str) -> bool:
    return name in WORK_NAMES or name.startswith(WORK_PREFIXES)


def drop_work(con: Engine) -> None:
    """Drop every work object a file left, views before the tables they read.

    Called after every file, whatever its ending, so that no file sees another's objects:
    an output is a table for a small file and a view for a large one, and a leftover of the
    other kind cannot be replaced.
    """
    con.drop(*[found.name for found in con.work_relations() if _is_work(found.name)])
