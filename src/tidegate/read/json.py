"""JSON documents and JSON Lines: one row per object.

Top-level scalar fields become VARCHAR: a string as itself, ``true``/``false``, and a
number as DuckDB's JSON parser renders it (integers exactly, whatever their size; other
numbers in their shortest round-trip form, so ``1.50`` reads as ``1.5``). A field that
holds an object or array anywhere in the file becomes DuckDB ``JSON``, so mappings can use
json functions and unnest. Keys are unioned across records, in order of first appearance.

A document is an array of objects, a single object, or holds the records at the
``records`` path. JSON Lines are read as lines of text first so that a line which is not
JSON becomes a bad record instead of failing the file.

A record nested deeper than ``MAX_DEPTH`` levels is a bad record too: Python's parser (and
every tool that later parses the value recursively) would fail on it, and no real record is
that deep.
"""

from __future__ import annotations

import json as pyjson
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from sqlglot import exp

from tidegate.compute import Engine, local
from tidegate.compute.engine import DelimitedRead, JsonRead, RejectedLine
from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.lines import Reject
from tidegate.read.names import column_names
from tidegate.read.result import ROW, BadRecord, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import count, create_temp_table, drop, number_rows, scratch_name
from tidegate.read.text import Text, prepare
from tidegate.sql import col, table

# No valid JSON line holds these control bytes, so a line is never split into fields.
LINE_DELIMITER = "\x01\x02\x03\x04"
MAX_LINE = 1 << 26
PEEK_RECORDS = 1000
JSON_WHITESPACE = " \t\r\n"
NESTED = ("OBJECT", "ARRAY")
SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
LINE = "_line"
TEXT = "_text"
DOC = "_j"
MAX_DEPTH = 500
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def read(
    con: Engine,
    source: Source,
    options: ReadOptions,
    fmt: str,
    table_name: str,
    workdir: Path,
) -> ReadResult:
    """Read the records into ``table_name``; see the module docstring."""
    text = prepare(source, options.encoding, workdir)
    objects = _whole_lines(text) if fmt == "jsonl" else None
    if objects is not None:
        return _read_objects(con, text, objects, table_name)
    records, good = scratch_name("records"), scratch_name("objects")
    try:
        if fmt == "jsonl":
            _lines(con, text, records)
        else:
            _document(con, text, options.records, records)
        bad = _split(con, records, good)
        keys = _keys(con, good)
        names = column_names([key for key, _ in keys])
        _project(con, good, table_name, keys, names)
    finally:
        drop(con, records, good)
    rows = count(con, table_name)
    if rows + len(bad) == 0:
        drop(con, table_name)
        raise EmptyFileError(text.label)
    return ReadResult(table_name, names, rows, bad, fmt, text.encoding.name, {})


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """Keys of the first records only."""
    text = prepare(source, options.encoding, workdir, transcode=fmt != "jsonl")
    if fmt == "jsonl":
        objects = [_object(line) for line in text.head.splitlines()[:PEEK_RECORDS]]
        return column_names(_union([o for o in objects if o is not None]))
    con = local()
    try:
        records = scratch_name("records")
        _document(con, text, options.records, records)
        query = exp.select(col(TEXT)).from_(table(records)).order_by(col(ROW)).limit(PEEK_RECORDS)
        objects = [_object(str(row[0])) for row in con.execute(query)]
    finally:
        con.close()
    return column_names(_union([o for o in objects if o is not None]))


# --------------------------------------------------------------------------- small files

Line = tuple[int, str, dict[str, Any]]  # (_row, line text, the object)


def _whole_lines(text: Text) -> list[Line] | None:
    """Every record of a small JSON Lines file, parsed in Python, when all of them are
    plain JSON objects; None sends the file down the set-wise path, which explains bad lines
    (so both paths give the same table, and a file's errors are reported one way)."""
    body = text.head
    if not text.complete or "\ufffd" in body or "\r" in body.replace("\r\n", "\n"):
        return None
    found: list[Line] = []
    for line in body.split("\n"):
        line = line.removesuffix("\r")
        if not line.strip(JSON_WHITESPACE):
            continue
        value = _plain_object(line)
        if value is None:
            return None
        found.append((len(found) + 1, line, value))
    return found


def _plain_object(line: str) -> dict[str, Any] | None:
    """The object on a line, or None for anything else: not JSON, not an object, a key
    given twice, NaN or Infinity, an escaped surrogate (DuckDB's parser may judge those
    differently from Python's)."""
    if SURROGATE.search(line) or too_deep(line):
        return None
    try:
        value = pyjson.loads(line, object_pairs_hook=_unique_keys, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key given twice")
    return value


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _read_objects(con: Engine, text: Text, objects: list[Line], table_name: str) -> ReadResult:
    if not objects:
        raise EmptyFileError(text.label)
    keys: dict[str, bool] = {}
    for _, _, value in objects:
        for key, item in value.items():
            keys[key] = keys.get(key, False) or isinstance(item, dict | list)
    pairs = list(keys.items())
    names = column_names(list(keys))
    good = scratch_name("objects")
    rows = pa.table(
        {
            ROW: pa.array([row for row, _, _ in objects], pa.int64()),
            DOC: pa.array([line for _, line, _ in objects], pa.string()),
        }
    )
    con.register(good, rows)
    try:
        _project(con, good, table_name, pairs, names)
    finally:
        con.unregister(good)
    return ReadResult(table_name, names, len(objects), [], "jsonl", text.encoding.name, {})


# --------------------------------------------------------------------------- records


def _lines(con: Engine, text: Text, records: str) -> None:
    """Every non-blank line is a record; ``_line`` is its physical line number."""
    lines = scratch_name("lines")
    con.execute(create_temp_table(lines, [(TEXT, "VARCHAR")]))
    try:
        read = DelimitedRead(
            path=str(text.source.path),
            columns=[TEXT],
            delimiter=LINE_DELIMITER,
            quote="",
            escape="",
            header=False,
            compression=text.source.compression,
            max_line_bytes=MAX_LINE,
        )
        rejected = _rejected_lines(con.read_delimited(read, lines))
        # Lines read are numbered around the rejected ones; those join them as text.
        number_rows(con, lines, [r.line for r in rejected])
        if rejected:
            values = exp.values([(exp.Placeholder(), exp.Placeholder())])
            insert = exp.insert(values, table(lines))
            con.execute_many(insert, [[r.line, r.raw] for r in rejected])
        _number_records(con, lines, records)
    finally:
        drop(con, lines)


def _rejected_lines(complaints: Sequence[RejectedLine]) -> list[Reject]:
    """One ``Reject`` per line the engine could not take (a line may have several)."""
    first: dict[int, RejectedLine] = {}
    for complaint in complaints:
        first.setdefault(complaint.line, complaint)
    return [Reject.of(c.line, c.offset, c.raw, (), ()) for c in first.values()]


def _number_records(con: Engine, lines: str, records: str) -> None:
    """Blank lines are not records: number the others in line order.

    Usually no blank line comes before the last record (a file may end in one), and the
    line number is the ordinal; otherwise a window numbers them.
    """
    blank = _blank()
    last = exp.select(exp.func("max", col(ROW))).from_(table(lines)).where(exp.not_(blank))
    early = exp.select(exp.Count(this=exp.Star())).from_(table(lines))
    early = early.where(exp.and_(blank, col(ROW) < exp.Subquery(this=last)))
    ordinal: exp.Expr = col(ROW)
    if con.execute(early)[0][0]:
        order = exp.Order(expressions=[exp.Ordered(this=col(ROW))])
        ordinal = exp.Window(this=exp.RowNumber(), order=order)
    query = exp.select(
        exp.alias_(ordinal, ROW, quoted=True), exp.alias_(col(ROW), LINE, quoted=True), col(TEXT)
    )
    query = query.from_(table(lines)).where(exp.not_(blank))
    con.execute(
        exp.Create(this=table(records), kind="TABLE", expression=query, properties=_temporary()),
    )


def _blank() -> exp.Expr:
    """An empty or all-whitespace line; only lines that start with whitespace are trimmed."""
    first = exp.Anonymous(this="ascii", expressions=[col(TEXT)])
    spaces = [exp.Literal.number(ord(c)) for c in JSON_WHITESPACE]
    trimmed = exp.Trim(this=col(TEXT), expression=exp.Literal.string(JSON_WHITESPACE))
    return exp.or_(
        col(TEXT).eq(exp.Literal.string("")),
        exp.and_(exp.In(this=first, expressions=spaces), trimmed.eq(exp.Literal.string(""))),
    )


def _document(con: Engine, text: Text, path: str | None, records: str) -> None:
    """The elements of the top-level array, the single object, or what ``path`` holds."""
    shape: Literal["array", "unstructured"] = (
        "array" if text.head.lstrip().startswith("[") and path is None else "unstructured"
    )
    pointer = None if path is None else path if path.startswith(("$", "/")) else f"$.{path}"
    read = JsonRead(
        path=str(text.source.path),
        shape=shape,
        compression=text.source.compression,
        pointer=pointer,
    )
    con.execute(create_temp_table(records, [(LINE, "BIGINT"), (TEXT, "VARCHAR")]))
    if not con.read_json(read, records):
        drop(con, records)
        raise ReadError(text.label, f"read.records: nothing at {path!r} in the document")
    number_rows(con, records, [])


def _temporary() -> exp.Properties:
    return exp.Properties(expressions=[exp.TemporaryProperty()])


# --------------------------------------------------------------------------- objects


def _split(con: Engine, records: str, good: str) -> list[BadRecord]:
    """Objects go to ``good``; anything else is a bad record."""
    # CASE, not AND: json_type must never see text that is not JSON.
    kind = exp.Case(
        ifs=[exp.If(this=exp.func("json_valid", col(TEXT)), true=exp.func("json_type", col(TEXT)))]
    )
    is_object = kind.eq(exp.Literal.string("OBJECT"))
    objects = exp.select(col(ROW), exp.alias_(col(TEXT), DOC, quoted=True))
    objects = objects.from_(table(records)).where(is_object)
    con.execute(
        exp.Create(this=table(good), kind="TABLE", expression=objects, properties=_temporary())
    )
    deep = _too_deep(con, records, good)
    if not deep and count(con, good) == count(con, records):
        return []
    others = exp.select(col(ROW), col(LINE), col(TEXT), kind).from_(table(records))
    others = others.where(exp.func("coalesce", is_object, exp.false()).not_()).order_by(col(ROW))
    bad = [_bad(int(r), line, str(raw), kind) for r, line, raw, kind in con.execute(others)]
    return sorted(bad + deep, key=lambda record: record.row)


def _too_deep(con: Engine, records: str, good: str) -> list[BadRecord]:
    """Objects nested deeper than ``MAX_DEPTH``, moved from ``good`` to the bad records.

    Only a record with more than ``MAX_DEPTH`` opening brackets can be that deep; DuckDB
    finds those, and Python measures just them.
    """
    text = col(TEXT, "r")
    brackets = exp.func("length", text) - exp.func("length", _without(_without(text, "["), "{"))
    query = (
        exp.select(col(ROW, "r"), col(LINE, "r"), text)
        .from_(exp.alias_(table(records), "r"))
        .join(exp.alias_(table(good), "g"), on=col(ROW, "r").eq(col(ROW, "g")))
        # The length test first: it is cheap and rules out nearly every record.
        .where(exp.func("length", text.copy()) > exp.Literal.number(2 * MAX_DEPTH))
        .where(brackets > exp.Literal.number(MAX_DEPTH))
    )
    deep = [
        BadRecord(int(row), line, TOO_DEEP, str(raw))
        for row, line, raw in con.execute(query)
        if depth(str(raw)) > MAX_DEPTH
    ]
    if deep:
        rows = [exp.Literal.number(record.row) for record in deep]
        con.execute(exp.delete(table(good), where=exp.In(this=col(ROW), expressions=rows)))
    return deep


def _without(text: exp.Expr, char: str) -> exp.Expr:
    return exp.func("replace", text, exp.Literal.string(char), exp.Literal.string(""))


def too_deep(text: str) -> bool:
    """Whether a JSON text nests deeper than ``MAX_DEPTH`` (cheap when it plainly cannot)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    return depth(text) > MAX_DEPTH


def depth(text: str) -> int:
    """How deeply a JSON text nests arrays and objects, without recursion.

    >>> depth('{"a": [1, {"b": "[[["}]}')
    3
    """
    level = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        level += 1 if bracket in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _bad(row: int, line: int | None, raw: str, kind: str | None) -> BadRecord:
    if kind is not None:
        return BadRecord(row, line, f"expected a JSON object, found {kind.lower()}", raw)
    if too_deep(raw):
        return BadRecord(row, line, TOO_DEEP, raw)
    try:
        pyjson.loads(raw)
        why = "not valid JSON"
    except ValueError as exc:
        why = f"not valid JSON: {exc}"
    return BadRecord(row, line, why, raw)


def _keys(con: Engine, good: str) -> list[tuple[str, bool]]:
    """(key, holds an object or array somewhere), in order of first appearance."""
    keys = exp.func("json_keys", col(DOC))
    listed = exp.select(
        col(ROW),
        exp.alias_(exp.Unnest(expressions=[keys]), "key", quoted=True),
        exp.alias_(
            exp.Unnest(expressions=[exp.func("generate_series", 1, exp.func("len", keys))]),
            "pos",
            quoted=True,
        ),
    ).from_(table(good))
    query = (
        exp.select(col("key"))
        .from_(exp.alias_(exp.Subquery(this=listed), "k"))
        .group_by(col("key"))
        .order_by(exp.func("min", col(ROW)), exp.func("arg_min", col("pos"), col(ROW)))
    )
    names = [str(row[0]) for row in con.execute(query)]
    if not names:
        return []
    kinds = exp.func("json_type", col(DOC), _pointers(names))
    nested = [
        exp.func(
            "bool_or",
            exp.In(
                this=exp.Anonymous(
                    this="list_extract", expressions=[col("t"), exp.Literal.number(i)]
                ),
                expressions=[exp.Literal.string(k) for k in NESTED],
            ),
        )
        for i in range(1, len(names) + 1)
    ]
    typed = exp.select(exp.alias_(kinds, "t", quoted=True)).from_(table(good))
    flags = con.execute(exp.select(*nested).from_(exp.alias_(exp.Subquery(this=typed), "x")))[0]
    return [(name, bool(flag)) for name, flag in zip(names, flags, strict=True)]


def _project(
    con: Engine,
    good: str,
    table_name: str,
    keys: Sequence[tuple[str, bool]],
    names: Sequence[str],
) -> None:
    """One column per key: text for scalars, JSON for keys that hold nested values."""
    con.execute(
        create_temp_table(
            table_name,
            [
                (n, "JSON" if nested else "VARCHAR")
                for n, (_, nested) in zip(names, keys, strict=True)
            ],
        ),
    )
    scalars = [key for key, nested in keys if not nested]
    structured = [key for key, nested in keys if nested]
    inner = exp.select(
        col(ROW),
        exp.alias_(exp.func("json_extract_string", col(DOC), _pointers(scalars)), "s", quoted=True),
        exp.alias_(exp.func("json_extract", col(DOC), _pointers(structured)), "n", quoted=True),
    ).from_(table(good))
    picked: list[exp.Expr] = []
    for key, nested in keys:
        position = (structured if nested else scalars).index(key) + 1
        picked.append(
            exp.Anonymous(
                this="list_extract",
                expressions=[col("n" if nested else "s"), exp.Literal.number(position)],
            )
        )
    query = (
        exp.select(col(ROW), *picked)
        .from_(exp.alias_(exp.Subquery(this=inner), "x"))
        .order_by(col(ROW))
    )
    con.execute(exp.insert(query, table(table_name)))


def _pointers(keys: Sequence[str]) -> exp.Expr:
    """JSON Pointers (RFC 6901), which need no quoting rules beyond ``~`` and ``/``."""
    escaped = ["/" + key.replace("~", "~0").replace("/", "~1") for key in keys]
    return exp.cast(exp.Array(expressions=[exp.Literal.string(p) for p in escaped]), "VARCHAR[]")


def _object(line: str) -> dict[str, Any] | None:
    if too_deep(line):
        return None
    try:
        value = pyjson.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _union(objects: Sequence[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for value in objects:
        keys.update(dict.fromkeys(value))
    return list(keys)
