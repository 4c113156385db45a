"""The dialect of a delimited file: DuckDB's sniffer, a fallback, and the header.

DuckDB's sniffer runs with ``ignore_errors``: on a file with ragged rows it otherwise
settles on a one-column dialect, and rows vanish later. When it fails, or still sees one
column where the first line holds a usual delimiter, the delimiter that splits the sample
into the most rows of one width is taken instead. The header is parsed here, with
Python's csv module in the same dialect, so that its names can be fixed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tidegate.compute.engine import DelimitedSniff, Engine
from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.lines import records
from tidegate.read.names import column_names
from tidegate.read.text import Text

CANDIDATES = (",", "\t", ";", "|")
DEFAULT_DELIMITER = {"csv": None, "tsv": "\t"}


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
    # The records' own ending when the file was rewritten with LF ones (``newlines.py``).
    ending: str | None = None

    @property
    def first_line(self) -> int:
        """DuckDB's line number of the first data record."""
        return self.skip + int(self.header) + 1

    def describe(self) -> dict[str, str]:
        return {
            "delimiter": self.delimiter,
            "quote": self.quote,
            "escape": self.escape,
            "newline": self.ending or self.newline,
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


@dataclass(frozen=True)
class Sniffed:
    """What DuckDB's sniffer (or the fallback) saw; None where it saw nothing."""

    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    newline: str | None = None
    width: int = 1


def sniff(
    con: Engine,
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
    if delimiter is None and (sniffed is None or _single_column_by_mistake(sniffed, head)):
        sniffed = _fallback(head, quote) or sniffed
    sniffed = sniffed or Sniffed()
    quote = next(q for q in (quote, sniffed.quote, '"') if q is not None)
    return Dialect(
        delimiter=delimiter or sniffed.delimiter or ",",
        quote=quote,
        # RFC 4180 escapes a quote by doubling it; the sniffer reports that as no escape.
        escape=(sniffed.escape if escape is None else escape) or quote,
        newline=sniffed.newline or _newline(head),
        header=options.header,
        skip=options.skip_rows,
        width=sniffed.width,
    )


def _given(value: str) -> str | None:
    return None if value == "auto" else value


def _sniff_csv(
    con: Engine,
    path: Path,
    compression: str,
    options: ReadOptions,
    delimiter: str | None,
    quote: str | None,
    escape: str | None,
) -> Sniffed | None:
    found = con.sniff_delimited(
        DelimitedSniff(
            path=str(path),
            compression=compression,
            delimiter=delimiter,
            quote=quote,
            escape=escape,
            header=options.header,
            skip_rows=options.skip_rows,
        )
    )
    if found is None:
        return None
    return Sniffed(
        delimiter=found.delimiter,
        quote=found.quote,
        escape=found.escape,
        newline=found.newline,
        width=found.width,
    )


def _single_column_by_mistake(sniffed: Sniffed, head: str) -> bool:
    """One column, though the first line holds a usual delimiter: the sniffer gave up."""
    first = head.splitlines()[0] if head.strip() else ""
    return sniffed.width <= 1 and any(c in first for c in CANDIDATES)


def _fallback(head: str, quote: str | None) -> Sniffed | None:
    """The delimiter whose split of the sample gives the most rows of one width (> 1)."""
    lines = head.splitlines(keepends=True)
    sample = "".join(lines[:-1] if len(lines) > 1 else lines)
    best: Sniffed | None = None
    best_score = 0
    for candidate in CANDIDATES:
        reader = records(
            io.StringIO(sample, newline=""),
            delimiter=candidate,
            quotechar=quote or '"',
            strict=False,
        )
        widths = Counter(len(record) for record in reader if record)
        width, score = widths.most_common(1)[0] if widths else (1, 0)
        if width > 1 and score > best_score:
            best, best_score = Sniffed(delimiter=candidate, quote=quote, width=width), score
    return best


def _newline(head: str) -> str:
    if "\r\n" in head:
        return "\r\n"
    if "\n" not in head and "\r" in head:
        return "\r"
    return "\n"


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
        return column_names(_without_trailing_blanks(first, records))
    return column_names([None] * max(dialect.width, len(first)))


def _without_trailing_blanks(header: list[str], data: Iterator[list[str]]) -> list[str]:
    """A header with a trailing delimiter the data rows lack (``a,b,c,`` over ``1,2,3``).

    Blank names at the end are dropped down to the width most sample rows have; otherwise
    every row would be one field short.
    """
    widths = Counter(len(record) for _, record in zip(range(1000), data, strict=False) if record)
    if not widths:
        return header
    usual = max(widths.most_common(1)[0][0], 1)
    names = list(header)
    while len(names) > usual and not names[-1].strip():
        names.pop()
    return names


def _records(head: str, dialect: Dialect) -> Iterator[list[str]]:
    return records(io.StringIO(head, newline=""), **dialect.reader_options())
