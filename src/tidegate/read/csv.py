"""CSV and TSV: every value as text, every record kept (good ones in the table, bad ones listed).

1. The encoding is detected and anything but UTF-8 is transcoded (``text.py``).
2. The dialect is sniffed and the header parsed (``dialect.py``); a file that mixes CR, LF
   and CRLF record endings is rewritten with LF ones (``newlines.py``).
3. DuckDB reads with the explicit dialect and explicit VARCHAR columns, in parallel and in
   file order, into the temp table; ragged or malformed records land in rejects tables.
4. ``_row`` is set from rowid and the ordinals of the rejects (``lines.py``, ``tables.py``).

Given an ``Into`` (the raw layer, in the file's open transaction), step 3 appends the
records to that table instead, numbered as read, and the read table is a view of them.

A record with too few or too many fields is a bad record, with one exception DuckDB makes:
extra fields that are all empty (``1,2,`` under a two-column header, a trailing delimiter)
are dropped and the record is good, since no value is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tidegate.compute import Engine, local
from tidegate.compute.engine import DelimitedRead, RejectedLine
from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.dialect import Dialect, fix_header, header_names, sniff
from tidegate.read.encoding import UTF8
from tidegate.read.lines import Reject, field_count, locate
from tidegate.read.newlines import uniform_endings
from tidegate.read.result import ROW, BadRecord, Into, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import (
    count,
    create_temp_table,
    delete_file_rows,
    drop,
    file_view,
    number_rows,
    shift_rows,
)
from tidegate.read.text import Text, prepare, redetect

INVALID_ENCODING = "INVALID ENCODING"
MAX_LINE = 1 << 26
REASONS = {
    "UNQUOTED VALUE": "a quoted field is not closed, or text follows its closing quote",
    "LINE SIZE OVER MAXIMUM": f"the record is longer than {MAX_LINE >> 20} MiB",
    INVALID_ENCODING: "the record holds bytes that are not valid UTF-8; set read.encoding",
}
RAGGED = ("MISSING COLUMNS", "TOO MANY COLUMNS")


def read(
    con: Engine,
    source: Source,
    options: ReadOptions,
    fmt: str,
    table_name: str,
    workdir: Path,
    into: Into | None = None,
) -> ReadResult:
    """Read a delimited file into ``table_name``; see the module docstring. With ``into``,
    the records go straight into that table (the raw layer) and ``table_name`` is a view of
    them: the file is read and written once."""
    text = prepare(source, options.encoding, workdir)
    text, dialect = _dialect(con, text, options, fmt, workdir)
    names = header_names(text, dialect)
    dialect = replace(dialect, width=len(names))
    into = into if into is not None and into.prepare(list(names)) else None
    rejects = load(con, text, dialect, names, options, table_name, into)
    invalid = [r.offset for r in rejects if INVALID_ENCODING in r.errors]
    if invalid and text.detected and text.encoding.name == UTF8:
        if into is not None:
            delete_file_rows(con, into)
        text = redetect(text, invalid[0], source, workdir)
        text, dialect = uniform_endings(text, dialect, workdir)
        names = header_names(text, dialect)
        into = into if into is not None and into.prepare(list(names)) else None
        rejects = load(con, text, dialect, names, options, table_name, into)
    bad = bad_records(text, dialect, rejects)
    if into is None:
        number_rows(con, table_name, [record.row for record in bad])
    else:
        shift_rows(con, into, [record.row for record in bad])
        file_view(con, table_name, into, names)
    rows = count(con, table_name)
    _verify(con, text.label, table_name, rows, bad)
    described = dialect.describe()
    return ReadResult(
        table_name, names, rows, bad, fmt, text.encoding.name, described, in_raw=into is not None
    )


def _dialect(
    con: Engine, text: Text, options: ReadOptions, fmt: str, workdir: Path
) -> tuple[Text, Dialect]:
    """Sniff, and make the record endings one kind; a rewritten file is sniffed again, since
    the mixed endings may have misled the first look."""
    dialect = _sniffed(con, text, options, fmt)
    text, dialect = uniform_endings(text, dialect, workdir)
    if dialect.ending is None:
        return text, dialect
    again = _sniffed(con, text, options, fmt)
    return text, replace(again, newline=dialect.newline, ending=dialect.ending)


def _sniffed(con: Engine, text: Text, options: ReadOptions, fmt: str) -> Dialect:
    found = sniff(con, text.source.path, text.source.compression, text.head, options, fmt)
    return fix_header(text, found)


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """The column names, from the sniffed head of the file only."""
    text = prepare(source, options.encoding, workdir, transcode=False)
    head = workdir / "head.csv"
    head.write_text(
        text.head if text.complete else _whole_lines(text.head), encoding=UTF8, newline=""
    )
    con = local()
    try:
        dialect = fix_header(text, sniff(con, head, "none", text.head, options, fmt))
    finally:
        con.close()
    return header_names(text, dialect)


def _whole_lines(head: str) -> str:
    """A sample cut after its last newline, so its last record is not a torn one."""
    end = max(head.rfind("\n"), head.rfind("\r"))
    return head[: end + 1] if end > 0 else head


def load(
    con: Engine,
    text: Text,
    dialect: Dialect,
    names: Sequence[str],
    options: ReadOptions,
    table_name: str,
    into: Into | None = None,
) -> list[Reject]:
    """Read the good records into a fresh ``table_name`` (or append them to ``into``,
    numbered as read); return the rejected ones."""
    if into is None:
        con.execute(create_temp_table(table_name, [(name, "VARCHAR") for name in names]))
    read = DelimitedRead(
        path=str(text.source.path),
        columns=list(names),
        delimiter=dialect.delimiter,
        quote=dialect.quote,
        escape=dialect.escape,
        header=dialect.header,
        skip_rows=dialect.skip,
        newline=dialect.newline,
        compression=text.source.compression,
        null=list(options.null),
        max_line_bytes=MAX_LINE,
        constants=[] if into is None else [(into.file_column, into.file_id)],
        numbered=None if into is None else ROW,
    )
    return grouped(con.read_delimited(read, table_name if into is None else into.table))


def grouped(rejected: Sequence[RejectedLine]) -> list[Reject]:
    """The engine's complaints, one ``Reject`` per line with every error of that line."""
    lines: dict[int, list[RejectedLine]] = {}
    for complaint in rejected:
        lines.setdefault(complaint.line, []).append(complaint)
    return [
        Reject.of(
            line,
            found[0].offset,
            found[0].raw,
            [c.error for c in found],
            [c.message for c in found],
        )
        for line, found in lines.items()
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


def _verify(con: Engine, file: str, table_name: str, rows: int, bad: Sequence[BadRecord]) -> None:
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
