"""Many small files into one work table: each record keeps its file in its row number.

A batch numbers its files 0, 1, 2... and a record's batch row is
``file number * STRIDE + its row in the file``, so every set-wise step that joins or
numbers rows by ``_row`` keeps working across files, and a row's file is ``_row // STRIDE``.

Each file is read on its own (``read_piece``), so a file that cannot be read is rejected
alone, with the reason the one-file path gives. A JSON Lines file whose every line is a
plain object is parsed in Python and its records kept in memory; any other file is read
by its format's reader into a table of its own. ``combine`` then writes every piece into
one table, with one statement for all the in-memory records: the per-statement cost of
the engine is paid once per batch, not once per file. Files combine only when they read
to the same columns of the same types (their ``shape``), so the combined table is exactly
what each file gives alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
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
from tidegate.sql import col, table

STRIDE = 1 << 32
"""Batch rows per file: no file that may join a batch has anywhere near this many records."""

Shape = tuple[tuple[str, str], ...]  # (column, engine type) of every column, in order


@dataclass
class Piece:
    """One file of a batch as read: its records in memory (``objects``) or in a table of
    its own (``result.table``), and what a one-file read reports of it."""

    result: ReadResult
    shape: Shape
    objects: list[json.Line] | None = None

    @property
    def in_table(self) -> bool:
        return self.objects is None


def read_piece(con: Engine, path: Path, options: ReadOptions, fmt: str) -> Piece:
    """Read one file for a batch; raises what ``read_file`` raises on it."""
    piece = _plain_lines(con, path, options, fmt)
    if piece is not None:
        return piece
    name = scratch_name("piece")
    read = read_file(con, path, options, fmt, table=name)
    shape = tuple((c, kind.sql("duckdb")) for c, kind in con.columns(name) if c != ROW)
    return Piece(read, shape)


def _plain_lines(con: Engine, path: Path, options: ReadOptions, fmt: str) -> Piece | None:
    """A JSON Lines file of plain objects, parsed in memory; None for any other file.

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
        objects = json._whole_lines(text)
    return _in_memory(objects, text.encoding.name) if objects else None


def _in_memory(objects: list[json.Line], encoding: str) -> Piece:
    """A plain JSON Lines file: the table a one-file read would make, described."""
    keys: dict[str, bool] = {}
    for _, _, value in objects:
        for key, item in value.items():
            keys[key] = keys.get(key, False) or isinstance(item, dict | list)
    names = column_names(list(keys))
    kinds = ["JSON" if nested else "VARCHAR" for nested in keys.values()]
    result = ReadResult("", names, len(objects), [], "jsonl", encoding, {})
    return Piece(result, tuple(zip(names, kinds, strict=True)), objects)


def combine(con: Engine, pieces: Sequence[Piece], into: str) -> None:
    """Every piece (numbered by position) into the TEMP table ``into``: ``_row`` (the batch
    row) then the pieces' common columns. The pieces' own tables are dropped."""
    shape = pieces[0].shape
    names = [name for name, _ in shape]
    memory = [(number, p) for number, p in enumerate(pieces) if not p.in_table]
    parts: list[exp.Select] = []
    registered = scratch_name("objects")
    held = scratch_name("held")
    if memory:
        _project_objects(con, memory, shape, registered, held)
        parts.append(exp.select(col(ROW), *[col(n) for n in names]).from_(table(held)))
    for number, piece in enumerate(pieces):
        if piece.in_table:
            row = exp.Add(this=exp.Literal.number(number * STRIDE), expression=col(ROW))
            columns = [exp.alias_(row, ROW, quoted=True), *[col(n) for n in names]]
            parts.append(exp.select(*columns).from_(table(piece.result.table)))
    try:
        con.execute(_create(into, _union_all(parts)))
    finally:
        drop(con, held, *[p.result.table for p in pieces if p.in_table])


def _project_objects(
    con: Engine, memory: list[tuple[int, Piece]], shape: Shape, registered: str, into: str
) -> None:
    """The in-memory records of every file, as one read would project one file's."""
    rows = [number * STRIDE + row for number, p in memory for row, _, _ in p.objects or []]
    lines = [line for _, p in memory for _, line, _ in p.objects or []]
    data = pa.table({ROW: pa.array(rows, pa.int64()), json.DOC: pa.array(lines, pa.string())})
    keys = [(name, kind == "JSON") for name, kind in _source_keys(memory[0][1], shape)]
    con.register(registered, data)
    try:
        json._project(con, registered, into, keys, [name for name, _ in shape])
    finally:
        con.unregister(registered)


def _source_keys(piece: Piece, shape: Shape) -> list[tuple[str, str]]:
    """The JSON keys behind the columns (a column name may differ from its key)."""
    keys: dict[str, None] = {}
    for _, _, value in piece.objects or []:
        keys.update(dict.fromkeys(value))
    return [(key, kind) for key, (_, kind) in zip(keys, shape, strict=True)]


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
