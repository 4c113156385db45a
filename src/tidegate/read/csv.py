"""CSV and TSV: every value as text, every record kept (good ones in the table, bad ones listed).

1. The encoding is detected and anything but UTF-8 is transcoded (``text.py``).
2. The dialect is sniffed and the header parsed (``dialect.py``); a file that mixes CR, LF
   and CRLF record endings is rewritten with LF ones (``newlines.py``).
3. DuckDB reads with the explicit dialect and explicit VARCHAR columns, in parallel and in
   file order, into the temp table; ragged or malformed records land in rejects tables.
4. ``_row`` is set from rowid and the ordinals of the rejects (``lines.py``, ``tables.py``).

A record with too few or too many fields is a bad record, with one exception DuckDB makes:
extra fields that are all empty (``1,2,`` under a two-column header, a trailing delimiter)
are dropped and the record is good, since no value is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.dialect import Dialect, fix_header, header_names, sniff
from tidegate.read.encoding import UTF8
from tidegate.read.lines import Reject, field_count, locate
from tidegate.read.newlines import uniform_endings
from tidegate.read.result import ROW, BadRecord, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import count, create_temp_table, drop, number_rows, run, scratch_name
from tidegate.read.text import Text, prepare, redetect
from tidegate.sql import col, table

INVALID_ENCODING = "INVALID ENCODING"
MAX_LINE = 1 << 26
REASONS = {
    "UNQUOTED VALUE": "a quoted field is not closed, or text follows its closing quote",
    "LINE SIZE OVER MAXIMUM": f"the record is longer than {MAX_LINE >> 20} MiB",
    INVALID_ENCODING: "the record holds bytes that are not valid UTF-8; set read.encoding",
}
# The endings DuckDB takes as an option; a file of CR alone is left to its detection.
LINE_TERMINATORS = {"\n": "\\n", "\r\n": "\\r\\n"}
RAGGED = ("MISSING COLUMNS", "TOO MANY COLUMNS")


def read(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    options: ReadOptions,
    fmt: str,
    table_name: str,
    workdir: Path,
) -> ReadResult:
    """Read a delimited file into ``table_name``; see the module docstring."""
    text = prepare(source, options.encoding, workdir)
    text, dialect = _dialect(con, text, options, fmt, workdir)
    names = header_names(text, dialect)
    dialect = replace(dialect, width=len(names))
    rejects = load(con, text, dialect, names, options, table_name)
    invalid = [r.offset for r in rejects if INVALID_ENCODING in r.errors]
    if invalid and text.detected and text.encoding.name == UTF8:
        text = redetect(text, invalid[0], source, workdir)
        text, dialect = uniform_endings(text, dialect, workdir)
        names = header_names(text, dialect)
        rejects = load(con, text, dialect, names, options, table_name)
    bad = bad_records(text, dialect, rejects)
    number_rows(con, table_name, [record.row for record in bad])
    rows = count(con, table_name)
    _verify(con, text.label, table_name, rows, bad)
    return ReadResult(table_name, names, rows, bad, fmt, text.encoding.name, dialect.describe())


def _dialect(
    con: duckdb.DuckDBPyConnection, text: Text, options: ReadOptions, fmt: str, workdir: Path
) -> tuple[Text, Dialect]:
    """Sniff, and make the record endings one kind; a rewritten file is sniffed again, since
    the mixed endings may have misled the first look."""
    dialect = _sniffed(con, text, options, fmt)
    text, dialect = uniform_endings(text, dialect, workdir)
    if dialect.ending is None:
        return text, dialect
    again = _sniffed(con, text, options, fmt)
    return text, replace(again, newline=dialect.newline, ending=dialect.ending)


def _sniffed(con: duckdb.DuckDBPyConnection, text: Text, options: ReadOptions, fmt: str) -> Dialect:
    found = sniff(con, text.source.path, text.source.compression, text.head, options, fmt)
    return fix_header(text, found)


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """The column names, from the sniffed head of the file only."""
    text = prepare(source, options.encoding, workdir, transcode=False)
    head = workdir / "head.csv"
    head.write_text(
        text.head if text.complete else _whole_lines(text.head), encoding=UTF8, newline=""
    )
    with duckdb.connect() as con:
        dialect = fix_header(text, sniff(con, head, "none", text.head, options, fmt))
    return header_names(text, dialect)


def _whole_lines(head: str) -> str:
    """A sample cut after its last newline, so its last record is not a torn one."""
    end = max(head.rfind("\n"), head.rfind("\r"))
    return head[: end + 1] if end > 0 else head


def load(
    con: duckdb.DuckDBPyConnection,
    text: Text,
    dialect: Dialect,
    names: Sequence[str],
    options: ReadOptions,
    table_name: str,
) -> list[Reject]:
    """Read the good records into a fresh ``table_name``; return the rejected ones."""
    run(con, create_temp_table(table_name, [(name, "VARCHAR") for name in names]))
    errors, scans = scratch_name("rejects"), scratch_name("scans")
    try:
        relation = con.read_csv(
            str(text.source.path),
            **_arguments(con, text.source.compression, dialect, names, options),
            store_rejects=True,
            rejects_table=errors,
            rejects_scan=scans,
        )
        row = duckdb.lit(None).cast(duckdb.sqltypes.BIGINT).alias(ROW)
        relation.select(row, duckdb.StarExpression()).insert_into(table_name)
        return _rejects(con, errors)
    finally:
        drop(con, errors, scans)


def _arguments(
    con: duckdb.DuckDBPyConnection,
    compression: str,
    dialect: Dialect,
    names: Sequence[str],
    options: ReadOptions,
) -> dict[str, Any]:
    nulls: dict[str, Any] = (
        {"na_values": list(options.null)} if options.null else {"force_not_null": list(names)}
    )
    return {
        "header": dialect.header,
        "columns": {name: "VARCHAR" for name in names},
        "delimiter": dialect.delimiter,
        "quotechar": dialect.quote,
        "escapechar": dialect.escape,
        "skiprows": dialect.skip,
        # DuckDB's default (2 MB) would turn a long text field into a bad record.
        "max_line_size": MAX_LINE,
        **_line_terminator(dialect.newline),
        "compression": compression,
        # A landing path like date=2024-01-01/ must not add columns.
        "hive_partitioning": False,
        "auto_detect": False,
        "allow_quoted_nulls": True,
        # File order is what makes rowid the record order; without it read on one thread.
        "parallel": _preserves_order(con),
        **nulls,
    }


def _line_terminator(newline: str) -> dict[str, str]:
    """Given, not detected: a line break in a quoted header cell misleads DuckDB's guess."""
    known = LINE_TERMINATORS.get(newline)
    return {} if known is None else {"lineterminator": known}


def _preserves_order(con: duckdb.DuckDBPyConnection) -> bool:
    setting = exp.func("current_setting", exp.Literal.string("preserve_insertion_order"))
    return bool(run(con, exp.select(setting))[0][0])


def _rejects(con: duckdb.DuckDBPyConnection, errors: str) -> list[Reject]:
    latest = exp.select(exp.func("max", col("scan_id"))).from_(table(errors))
    query = (
        exp.select(
            col("line"),
            col("line_byte_position"),
            exp.cast(col("error_type"), "VARCHAR"),
            col("csv_line"),
            col("error_message"),
        )
        .from_(table(errors))
        .where(col("scan_id").eq(exp.Subquery(this=latest)))
        .order_by(col("line"), col("byte_position"))
    )
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in run(con, query):
        grouped.setdefault(int(row[0]), []).append(row)
    return [
        Reject.of(
            line,
            int(rows[0][1]),
            str(rows[0][3] or ""),
            [str(r[2]) for r in rows],
            [str(r[4]) for r in rows],
        )
        for line, rows in grouped.items()
    ]


def bad_records(text: Text, dialect: Dialect, rejects: Sequence[Reject]) -> list[BadRecord]:
    places = locate(
        text.source.open, rejects, dialect.first_line, dialect.newline, dialect.reader_options()
    )
    return [
        BadRecord(places[r.line].row, places[r.line].line, reason(r, dialect), r.raw)
        for r in rejects
    ]


def reason(reject: Reject, dialect: Dialect) -> str:
    """Why a record was rejected, in the user's terms."""
    for error in (INVALID_ENCODING, "UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM"):
        if error in reject.errors:
            return REASONS[error]
    if any(error in RAGGED for error in reject.errors):
        found = field_count(reject.raw, dialect.reader_options())
        return f"expected {dialect.width} columns, found {found if found is not None else 'a different number'}"
    return "; ".join(dict.fromkeys(reject.messages))


def _verify(
    con: duckdb.DuckDBPyConnection, file: str, table_name: str, rows: int, bad: Sequence[BadRecord]
) -> None:
    """Good plus bad must be every record, each numbered once."""
    ordinals = [record.row for record in bad]
    total = rows + len(bad)
    if total == 0:
        drop(con, table_name)
        raise EmptyFileError(file)
    if len(set(ordinals)) != len(ordinals) or not all(1 <= o <= total for o in ordinals):
        raise ReadError(
            file,
            f"the records could not be numbered consistently ({rows} good, bad at {ordinals[:10]})",
        )
