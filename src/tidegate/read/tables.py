"""The SQL the reading room runs on its own temp tables, built with sqlglot.

>>> create_temp_table("_tg_read", [("Name", "VARCHAR")]).sql("duckdb")
'CREATE OR REPLACE TEMPORARY TABLE "_tg_read" ("_row" BIGINT, "Name" TEXT)'
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

import pyarrow as pa
from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.compute.work import temp_create
from tidegate.read.result import ROW, Into
from tidegate.sql import col, column_defs, lit, table

DIALECT = "duckdb"
ROWID = exp.column("rowid")
# Up to this many runs of good rows after bad ones are numbered one range update each;
# past it one ASOF join numbers them all (about the cost of a thousand range updates).
MAX_RANGE_UPDATES = 1024


def scratch_name(kind: str) -> str:
    """A temp table name no other read uses."""
    return f"_tg_{kind}_{uuid.uuid4().hex[:12]}"


def create_temp_table(name: str, columns: Sequence[tuple[str, str]]) -> exp.Create:
    """``CREATE OR REPLACE TEMP TABLE name (_row BIGINT, <columns>)``."""
    defs = [(ROW, _type("BIGINT"))] + [(column, _type(kind)) for column, kind in columns]
    return exp.Create(
        this=exp.Schema(this=table(name), expressions=column_defs(defs)),
        kind="TABLE",
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def _type(name: str) -> exp.DataType:
    """A fresh node of a type parsed once (a wide file asks thousands of times)."""
    return _parsed_type(name).copy()


@functools.lru_cache(maxsize=64)
def _parsed_type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect=DIALECT)


def drop(con: Engine, *names: str) -> None:
    con.drop(*names)


def count(con: Engine, name: str) -> int:
    rows = con.execute(exp.select(exp.Count(this=exp.Star())).from_(table(name)))
    return int(rows[0][0])


def number_rows(con: Engine, name: str, bad_rows: Sequence[int]) -> None:
    """Set ``_row`` of good rows, held in file order, around the ordinals of the bad ones.

    The good row with rowid ``g`` is record ``g + 1 + k``, where ``k`` bad records precede
    it: those whose ordinal ``b_j`` (j-th bad, 1-based) has ``b_j - j <= g``. Good rows
    thus fall in runs, each shifted by the bad records before it.
    """
    runs = _runs(bad_rows)
    _number_first_run(con, name, runs[0][0] if runs else None)
    if len(runs) > MAX_RANGE_UPDATES:
        _number_by_join(con, name, runs)
    elif runs:
        _number_by_ranges(con, name, runs)


def _runs(bad_rows: Sequence[int]) -> list[tuple[int, int]]:
    """(first rowid, bad records before it) of each run of good rows after a bad record."""
    runs: dict[int, int] = {}
    for j, ordinal in enumerate(sorted(bad_rows), start=1):
        runs[ordinal - j] = j
    return list(runs.items())


def _number_first_run(con: Engine, name: str, end: int | None) -> None:
    """Good rows before any bad record: ``_row = rowid + 1``."""
    below = None if end is None else exp.LT(this=ROWID, expression=exp.Literal.number(end))
    con.execute(exp.update(table(name), {ROW: ROWID + exp.Literal.number(1)}, where=below))


def _number_by_ranges(con: Engine, name: str, runs: list[tuple[int, int]]) -> None:
    """One prepared UPDATE, run once per run (DuckDB prunes by rowid, so each is cheap)."""
    update = exp.update(
        table(name),
        {ROW: ROWID + exp.Placeholder()},
        where=exp.and_(
            exp.GTE(this=ROWID, expression=exp.Placeholder()),
            exp.LT(this=ROWID, expression=exp.Placeholder()),
        ),
    )
    ends = [start for start, _ in runs[1:]] + [2**62]
    params = [[1 + shift, start, end] for (start, shift), end in zip(runs, ends, strict=True)]
    con.execute_many(update, params)


def _number_by_join(con: Engine, name: str, runs: list[tuple[int, int]]) -> None:
    """One UPDATE: each rowid takes the shift of the last run starting at or before it."""
    gaps = scratch_name("gaps")
    con.register(gaps, pa.table({"start": [s for s, _ in runs], "shift": [n for _, n in runs]}))
    try:
        own_rowid = exp.column("rowid", name, quoted=True)
        matched = (
            exp.select(exp.alias_(exp.column("rowid", "x"), "rid", quoted=True), col("shift", "g"))
            .from_(exp.alias_(table(name), "x"))
            .join(
                exp.alias_(table(gaps), "g"),
                on=exp.GTE(this=exp.column("rowid", "x"), expression=col("start", "g")),
                join_type="ASOF",
            )
        )
        update = exp.update(
            table(name),
            {ROW: own_rowid + exp.Literal.number(1) + col("shift", "m")},
            from_=exp.From(this=exp.alias_(exp.Subquery(this=matched), "m")),
            where=own_rowid.eq(col("rid", "m")),
        )
        con.execute(update)
    finally:
        con.unregister(gaps)


def file_rows(into: Into) -> exp.Expr:
    """The condition that picks one file's rows of a table of many files' records."""
    return col(into.file_column).eq(lit(into.file_id))


def file_view(con: Engine, name: str, into: Into, columns: Sequence[str]) -> None:
    """``name``: a temp view of the file's records in ``into``, shaped like a read table."""
    query = exp.select(col(ROW), *[col(c) for c in columns], copy=False)
    query = query.from_(into.table.copy(), copy=False).where(file_rows(into), copy=False)
    con.execute(temp_create(name, query, "VIEW"))


def delete_file_rows(con: Engine, into: Into) -> None:
    """Take the file's records out of ``into`` again (a read that starts over)."""
    con.execute(exp.delete(into.table.copy(), where=file_rows(into)))


def shift_rows(con: Engine, into: Into, bad_rows: Sequence[int]) -> None:
    """Renumber a file's records in ``into``, numbered 1, 2, ... as read, around the
    ordinals of its bad records (``number_rows`` for a table of many files).

    The good record numbered ``n`` is record ``n + k``, where ``k`` bad records precede it:
    each row takes the shift of the last run that starts before it, in one UPDATE, so no
    row is shifted twice.
    """
    runs = _runs(bad_rows)
    if not runs:
        return
    gaps = scratch_name("gaps")
    con.register(gaps, pa.table({"start": [s for s, _ in runs], "shift": [n for _, n in runs]}))
    try:
        own = col(ROW, into.table.name)
        matched = (
            exp.select(exp.alias_(col(ROW, "x"), "rid", quoted=True), col("shift", "g"))
            .from_(exp.alias_(into.table.copy(), "x"))
            .join(
                exp.alias_(table(gaps), "g"),
                on=exp.GT(this=col(ROW, "x"), expression=col("start", "g")),
                join_type="ASOF",
            )
            .where(col(into.file_column, "x").eq(lit(into.file_id)))
        )
        update = exp.update(
            into.table.copy(),
            {ROW: own + col("shift", "m")},
            from_=exp.From(this=exp.alias_(exp.Subquery(this=matched), "m")),
            where=exp.and_(
                col(into.file_column, into.table.name).eq(lit(into.file_id)),
                own.eq(col("rid", "m")),
            ),
        )
        con.execute(update)
    finally:
        con.unregister(gaps)
