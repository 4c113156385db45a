"""CSV and TSV: every value as text, every record kept (good ones in the table, bad ones listed).

1. The encoding is detected and anything but UTF-8 is transcoded (``text.py``).
2. DuckDB's sniffer proposes the dialect. It runs with ``ignore_errors``: on a file with
   ragged rows it otherwise settles on a one-column dialect and rows vanish later. When it
   fails or still sees one column where the header holds a common delimiter, the delimiter
   that splits the sample most consistently is taken instead.
3. The header is parsed here (Python's csv, same dialect) so names can be fixed.
4. DuckDB reads with the explicit dialect and explicit VARCHAR columns, in parallel and in
   file order, into the temp table; ragged or malformed records land in rejects tables.
5. ``_row`` is set from rowid and the ordinals of the rejects (``lines.py``, ``tables.py``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.encoding import UTF8
from tidegate.read.lines import Reject, field_count, locate
from tidegate.read.names import column_names
from tidegate.read.result import ROW, BadRecord, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import count, create_temp_table, drop, number_rows, run, scratch_name
from tidegate.read.text import Text, prepare, redetect
from tidegate.sql import col, table

CANDIDATES = (",", "\t", ";", "|")
DEFAULT_DELIMITER = {"csv": None, "tsv": "\t"}
NEWLINES = {"\\n": "\n", "\\r\\n": "\r\n", "\\r": "\r"}
SNIFFED_EMPTY = "(empty)"
INVALID_ENCODING = "INVALID ENCODING"
REASONS = {
    "UNQUOTED VALUE": "a quoted field is not closed, or text follows its closing quote",
    "LINE SIZE OVER MAXIMUM": "the record is longer than the maximum line size",
    INVALID_ENCODING: "the record holds bytes that are not valid UTF-8; set read.encoding",
}
RAGGED = ("MISSING COLUMNS", "TOO MANY COLUMNS")


@dataclass(frozen=True)
class Dialect:
    """How the file is split into records and fields."""

    delimiter: str
    quote: str
    escape: str
    newline: str
    header: bool
    skip: int
    width: int

    @property
    def first_line(self) -> int:
        """DuckDB's line number of the first data record."""
        return self.skip + int(self.header) + 1

    def describe(self) -> dict[str, str]:
        return {
            "delimiter": self.delimiter,
            "quote": self.quote,
            "escape": self.escape,
            "newline": self.newline,
            "header": "true" if self.header else "false",
        }

    def reader_options(self) -> dict[str, Any]:
        """The same dialect for Python's csv module."""
        if not self.quote:
            return {"delimiter": self.delimiter, "quoting": csv.QUOTE_NONE, "strict": False}
        doubled = self.escape in ("", self.quote)
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quote,
            "doublequote": doubled,
            "escapechar": None if doubled else self.escape,
            "strict": False,
        }


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
    dialect = fix_header(
        text, sniff(con, text.source.path, text.source.compression, text.head, options, fmt)
    )
    names = header_names(text, dialect)
    dialect = replace(dialect, width=len(names))
    rejects = load(con, text, dialect, names, options, table_name)
    invalid = [r.offset for r in rejects if INVALID_ENCODING in r.errors]
    if invalid and text.detected and text.encoding.name == UTF8:
        text = redetect(text, invalid[0], source, workdir)
        names = header_names(text, dialect)
        rejects = load(con, text, dialect, names, options, table_name)
    bad = bad_records(text, dialect, rejects)
    number_rows(con, table_name, [record.row for record in bad])
    rows = count(con, table_name)
    _verify(con, text.label, table_name, rows, bad)
    return ReadResult(table_name, names, rows, bad, fmt, text.encoding.name, dialect.describe())


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """The column names, from the sniffed head of the file only."""
    text = prepare(source, options.encoding, workdir, transcode=False)
    head = workdir / "head.csv"
    body = (
        text.head if text.complete else text.head[: max(text.head.rfind("\n"), 0) + 1] or text.head
    )
    head.write_text(body, encoding=UTF8, newline="")
    with duckdb.connect() as con:
        dialect = fix_header(text, sniff(con, head, "none", text.head, options, fmt))
    return header_names(text, dialect)


# --------------------------------------------------------------------------- dialect


def sniff(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    compression: str,
    head: str,
    options: ReadOptions,
    fmt: str,
) -> Dialect:
    """The dialect: what the user set, the rest from DuckDB's sniffer (or the fallback)."""
    delimiter = _given(options.delimiter) or DEFAULT_DELIMITER.get(fmt)
    quote, escape = _given(options.quote), _given(options.escape)
    sniffed = _sniff_csv(con, path, compression, options, delimiter, quote, escape)
    if sniffed is None or (delimiter is None and _single_column_by_mistake(sniffed, head)):
        sniffed = _fallback(head, delimiter, quote)
    quote = sniffed["Quote"] if quote is None else quote
    quote = '"' if quote is None else quote
    escape = sniffed["Escape"] if escape is None else escape
    return Dialect(
        delimiter=delimiter or str(sniffed["Delimiter"]),
        quote=quote,
        escape=escape or quote,
        newline=NEWLINES.get(str(sniffed["NewLineDelimiter"]), _newline(head)),
        header=options.header,
        skip=options.skip_rows,
        width=len(sniffed["Columns"]) if sniffed["Columns"] else 1,
    )


def _given(value: str) -> str | None:
    return None if value == "auto" else value


def _sniff_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    compression: str,
    options: ReadOptions,
    delimiter: str | None,
    quote: str | None,
    escape: str | None,
) -> dict[str, Any] | None:
    named: dict[str, Any] = {
        "delim": delimiter,
        "quote": quote,
        "escape": escape,
        "header": options.header,
        "skip": options.skip_rows,
        "compression": compression,
        "ignore_errors": True,
    }
    given = {name: value for name, value in named.items() if value is not None}
    call = exp.Anonymous(
        this="sniff_csv",
        expressions=[
            exp.Placeholder(),
            *(
                exp.PropertyEQ(this=exp.to_identifier(name), expression=exp.Placeholder())
                for name in given
            ),
        ],
    )
    query = exp.select(exp.Star()).from_(exp.Table(this=call))
    try:
        cursor = con.execute(query.sql(dialect="duckdb"), [str(path), *given.values()])
        row = cursor.fetchall()[0]
    except duckdb.Error:
        return None
    fields = [str(column[0]) for column in cursor.description or []]
    return {
        name: None if value == SNIFFED_EMPTY else value
        for name, value in zip(fields, row, strict=True)
    }


def _single_column_by_mistake(sniffed: dict[str, Any], head: str) -> bool:
    """One column, though the first line holds a usual delimiter: the sniffer gave up."""
    first = head.lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    return len(sniffed["Columns"] or []) <= 1 and any(c in first for c in CANDIDATES)


def _fallback(head: str, delimiter: str | None, quote: str | None) -> dict[str, Any]:
    """The delimiter whose split of the sample gives the most rows of one width (> 1)."""
    lines = head.splitlines(keepends=True)
    sample = "".join(lines[:-1] if len(lines) > 1 else lines)
    best, best_width, best_score = delimiter or ",", 1, 0
    for candidate in [delimiter] if delimiter else CANDIDATES:
        widths = Counter(
            len(record)
            for record in csv.reader(
                io.StringIO(sample, newline=""),
                delimiter=candidate,
                quotechar=quote or '"',
                strict=False,
            )
            if record
        )
        width, score = widths.most_common(1)[0] if widths else (1, 0)
        if width > 1 and score > best_score:
            best, best_width, best_score = candidate, width, score
    return {
        "Delimiter": best,
        "Quote": quote,
        "Escape": None,
        "NewLineDelimiter": None,
        "Columns": [None] * best_width,
    }


def _newline(head: str) -> str:
    if "\r\n" in head:
        return "\r\n"
    if "\n" not in head and "\r" in head:
        return "\r"
    return "\n"


# --------------------------------------------------------------------------- header


def fix_header(text: Text, dialect: Dialect) -> Dialect:
    """Count blank lines before the header as skipped rows, as DuckDB would take a blank header."""
    if len(dialect.delimiter) != 1:
        raise ReadError(
            text.label, f"the delimiter must be one character, got {dialect.delimiter!r}"
        )
    records = _records(text.head, dialect)
    skip = dialect.skip
    for _ in range(dialect.skip):
        next(records, None)
    for record in records:
        if record:
            break
        skip += 1
    return replace(dialect, skip=skip)


def header_names(text: Text, dialect: Dialect) -> list[str]:
    """Names from the header record, or ``column_<n>`` for a file without one."""
    records = _records(text.head, dialect)
    for _ in range(dialect.skip):
        next(records, None)
    first = next(records, None)
    if first is None:
        raise EmptyFileError(text.label)
    if dialect.header:
        return column_names(first)
    return column_names([None] * max(dialect.width, len(first)))


def _records(head: str, dialect: Dialect) -> Any:
    return csv.reader(io.StringIO(head, newline=""), **dialect.reader_options())


# --------------------------------------------------------------------------- reading


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
        "compression": compression,
        # A landing path like date=2024-01-01/ must not add columns.
        "hive_partitioning": False,
        "auto_detect": False,
        "allow_quoted_nulls": True,
        # File order is what makes rowid the record order; without it read on one thread.
        "parallel": _keeps_order(con),
        **nulls,
    }


def _keeps_order(con: duckdb.DuckDBPyConnection) -> bool:
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
