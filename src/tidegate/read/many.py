"""Many small files into one work table: each record keeps its file in its row number.

A batch numbers its files 0, 1, 2... and a record's batch row is
``file number * STRIDE + its row in the file``, so every set-wise step that joins or
numbers rows by ``_row`` keeps working across files, and a row's file is ``_row // STRIDE``.

The small JSON Lines files of a batch are read together (``read_lines``): each is decoded
whole in Python (``plain_text``: its encoding detected, as one file's read does), then one
statement splits every file into its lines, one checks them all (is each line a JSON
object, could it nest too deeply) and one lists every file's keys, in order of first
appearance, and which of them hold objects or arrays: the engine's JSON functions that the
one-file read uses, over all the files at once. A file with any line that is not a plain
object (and a file with no record) is read again on its own (``read_piece``), as one file
is read, so its bad lines are explained with their line numbers and an unreadable file is
rejected alone with the reason the one-file path gives. Any other file is read by its
format's reader into a table of its own.

``combine`` then writes every piece into one table, with one statement for all the lines
read together: the per-statement cost of the engine is paid once per batch, not once per
file. Files combine only when they read to the same columns of the same types (their
``shape``), so the combined table is exactly what each file gives alone.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import sqlglot
from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.config.models import ReadOptions
from tidegate.read import json
from tidegate.read.formats import source_format
from tidegate.read.names import column_names
from tidegate.read.reader import _translated, read_file
from tidegate.read.result import ROW, ReadResult
from tidegate.read.source import is_zip, open_source
from tidegate.read.tables import drop, scratch_name
from tidegate.read.text import prepare
from tidegate.sql import COMPUTE_DIALECT, col, table

STRIDE = 1 << 32
"""Batch rows per file: no file that may join a batch has anywhere near this many records."""

Shape = tuple[tuple[str, str], ...]  # (column, engine type) of every column, in order
Keys = list[tuple[str, bool]]  # (JSON key, holds an object or array somewhere), in order

LINES = "_tg_batch_lines"  # every record line of the files read together: file, row, text
BODIES = "_tg_batch_bodies"  # the decoded files, registered for the one statement that splits
NUMBERS = "_tg_batch_numbers"  # a file's number among the lines, and its number in the batch

# The statements below name these tables and the columns ``_row`` (ROW), ``_text``
# (json.TEXT) and ``_j`` (json.DOC) as written; ``test_read_many`` pins the names.

# The text of every file split into lines; blank lines are no records (``json._blank``).
_SPLIT = """
CREATE TEMP TABLE "_tg_batch_lines" AS
SELECT "_tg_no", row_number() OVER (PARTITION BY "_tg_no" ORDER BY "_line") AS "_row", "_text"
FROM (
  SELECT "_tg_no", generate_subscripts("parts", 1) AS "_line", unnest("parts") AS "_text"
  FROM (SELECT "_tg_no", string_split("body", chr(10)) AS "parts" FROM "_tg_batch_bodies")
)
WHERE NOT (:blank)
"""

# Per file: its records, and how many are not plain objects or might nest too deeply
# (as ``json._split`` and ``json._too_deep`` judge one file's lines).
_CHECK = """
SELECT "_tg_no", count(*) AS "records",
  count(*) FILTER (WHERE NOT coalesce(
      CASE WHEN json_valid("_text") THEN json_type("_text") END = 'OBJECT', FALSE)
    OR (length("_text") > :long
      AND length("_text") - length(replace(replace("_text", '[', ''), '{', '')) > :deep)
  ) AS "odd"
FROM "_tg_batch_lines"
GROUP BY "_tg_no"
"""

# Per file: its keys in order of first appearance, and whether one holds an object or an
# array in any record (as ``json._keys`` lists one file's).
_KEYS = """
SELECT "_tg_no", "key",
  bool_or(json_type("_text", '/' || replace(replace("key", '~', '~0'), '/', '~1'))
    IN ('OBJECT', 'ARRAY')) AS "nested"
FROM (
  SELECT "_tg_no", "_row", "_text", unnest(json_keys("_text")) AS "key",
    unnest(generate_series(1, len(json_keys("_text")))) AS "pos"
  FROM "_tg_batch_lines"
)
GROUP BY "_tg_no", "key"
ORDER BY "_tg_no", min("_row"), arg_min("pos", "_row")
"""

# The records of some of the files, numbered as the batch numbers them.
_HELD = """
CREATE TEMP TABLE :held AS
SELECT "n"."batch" * :stride + "l"."_row" AS "_row", "l"."_text" AS "_j"
FROM "_tg_batch_lines" AS "l" JOIN "_tg_batch_numbers" AS "n" ON "l"."_tg_no" = "n"."_tg_no"
"""


@functools.cache
def _template(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read=COMPUTE_DIALECT)


def _statement(sql: str, **values: exp.Expr) -> exp.Expr:
    return exp.replace_placeholders(_template(sql).copy(), **values)


@dataclass(frozen=True)
class PlainText:
    """A small JSON Lines file decoded whole: its text (lines end in ``\\n``), its encoding."""

    body: str
    encoding: str


@dataclass
class Piece:
    """One file of a batch as read: its lines among ``LINES`` (``keys`` and ``lines`` set)
    or its records in a table of its own (``result.table``), and what a one-file read
    reports of it."""

    result: ReadResult
    shape: Shape
    keys: Keys | None = None  # the JSON keys behind its columns, when read with others
    lines: int = -1  # its number in ``LINES``

    @property
    def in_table(self) -> bool:
        return self.keys is None


def read_piece(con: Engine, path: Path, options: ReadOptions, fmt: str) -> Piece:
    """Read one file for a batch on its own; raises what ``read_file`` raises on it."""
    name = scratch_name("piece")
    read = read_file(con, path, options, fmt, table=name)
    shape = tuple((c, kind.sql("duckdb")) for c, kind in con.columns(name) if c != ROW)
    return Piece(read, shape)


def plain_text(con: Engine, path: Path, options: ReadOptions, fmt: str) -> PlainText | None:
    """A small JSON Lines file decoded whole, as one file's read decodes it; None for any
    other file, and for text that only the one-file read judges the same way (undecodable
    bytes, a carriage return that ends no line). Raises what that read raises on it.

    Such a file is decoded whole in memory (``transcode=False``), and only a zip needs a
    folder to open, so no scratch folder is made for it.
    """
    if not path.is_file() or is_zip(path):
        return None
    with _translated(str(path), fmt, con.errors):
        source = open_source(path, Path(tempfile.gettempdir()))  # not a zip: never written
        if source_format(source, fmt) != "jsonl":
            return None
        text = prepare(source, options.encoding, Path(), transcode=False)
    body = text.head.replace("\r\n", "\n")
    if not text.complete or "\ufffd" in body or "\r" in body:
        return None
    return PlainText(body, text.encoding.name)


def read_lines(con: Engine, texts: Sequence[PlainText]) -> list[Piece | None]:
    """The files' lines into ``LINES`` (dropped by ``drop_lines``), checked together: a
    piece for each file whose every line is a plain JSON object, None for the others
    (to be read alone)."""
    numbers = pa.array(range(len(texts)), pa.int64())
    bodies = pa.table({"_tg_no": numbers, "body": pa.array([t.body for t in texts], pa.string())})
    con.register(BODIES, bodies)
    try:
        con.execute(_statement(_SPLIT, blank=json._blank()))
    finally:
        con.unregister(BODIES)
    limits = {
        "long": exp.Literal.number(2 * json.MAX_DEPTH),
        "deep": exp.Literal.number(json.MAX_DEPTH),
    }
    plain = {
        int(number): int(records)
        for number, records, odd in con.execute(_statement(_CHECK, **limits))
        if not odd
    }
    keys: dict[int, Keys] = {number: [] for number in plain}
    for number, key, nested in con.execute(_template(_KEYS)):
        if int(number) in keys:
            keys[int(number)].append((str(key), bool(nested)))
    return [
        _piece(number, plain[number], keys[number], text.encoding) if number in plain else None
        for number, text in enumerate(texts)
    ]


def _piece(number: int, records: int, keys: Keys, encoding: str) -> Piece:
    """A file read with others: the table a one-file read would make, described."""
    names = column_names([key for key, _ in keys])
    kinds = ["JSON" if nested else "VARCHAR" for _, nested in keys]
    result = ReadResult("", names, records, [], "jsonl", encoding, {})
    return Piece(result, tuple(zip(names, kinds, strict=True)), keys, number)


def drop_lines(con: Engine) -> None:
    drop(con, LINES)


def combine(con: Engine, pieces: Sequence[Piece], into: str) -> None:
    """Every piece (numbered by position) into the TEMP table ``into``: ``_row`` (the batch
    row) then the pieces' common columns. The pieces' own tables are dropped."""
    names = [name for name, _ in pieces[0].shape]
    parts: list[exp.Select] = []
    held: list[str] = []
    try:
        for together in _by_keys(pieces).values():  # one key list, as a rule
            held.append(scratch_name("held"))
            _project_lines(con, together, names, held[-1])
            parts.append(exp.select(col(ROW), *[col(n) for n in names]).from_(table(held[-1])))
        for number, piece in enumerate(pieces):
            if piece.in_table:
                row = exp.Add(this=exp.Literal.number(number * STRIDE), expression=col(ROW))
                columns = [exp.alias_(row, ROW, quoted=True), *[col(n) for n in names]]
                parts.append(exp.select(*columns).from_(table(piece.result.table)))
        con.execute(_create(into, _union_all(parts)))
    finally:
        drop(con, *held, *[p.result.table for p in pieces if p.in_table])


def _by_keys(
    pieces: Sequence[Piece],
) -> dict[tuple[tuple[str, bool], ...], list[tuple[int, Piece]]]:
    """The pieces read together, numbered, by their JSON keys (two key lists may name the
    same columns: ``a``, ``A`` and ``a``, ``A_2`` both give ``a``, ``A_2``)."""
    found: dict[tuple[tuple[str, bool], ...], list[tuple[int, Piece]]] = {}
    for number, piece in enumerate(pieces):
        if piece.keys is not None:
            found.setdefault(tuple(piece.keys), []).append((number, piece))
    return found


def _project_lines(
    con: Engine, together: list[tuple[int, Piece]], names: list[str], into: str
) -> None:
    """The lines of these files (of one key list), as one read projects one file's."""
    numbers = pa.table(
        {
            "_tg_no": pa.array([p.lines for _, p in together], pa.int64()),
            "batch": pa.array([number for number, _ in together], pa.int64()),
        }
    )
    lines = scratch_name("lines")
    con.register(NUMBERS, numbers)
    try:
        stride = exp.Literal.number(STRIDE)
        con.execute(_statement(_HELD, held=table(lines), stride=stride))
    finally:
        con.unregister(NUMBERS)
    try:
        json._project(con, lines, into, together[0][1].keys or [], names)
    finally:
        drop(con, lines)


def _union_all(parts: Sequence[exp.Query]) -> exp.Query:
    """``UNION ALL`` of the parts, as a balanced tree (a chain of hundreds would nest too
    deeply to render)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return exp.union(_union_all(parts[:middle]), _union_all(parts[middle:]), distinct=False)


def _create(name: str, query: exp.Query) -> exp.Create:
    return exp.Create(
        this=table(name),
        kind="TABLE",
        expression=query,
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def file_of_row() -> exp.Expr:
    """A batch row's file number."""
    return exp.IntDiv(this=col(ROW), expression=exp.Literal.number(STRIDE))


def row_in_file(column: exp.Expr | None = None) -> exp.Expr:
    """A batch row's number in its own file."""
    return exp.Mod(this=column or col(ROW), expression=exp.Literal.number(STRIDE))
