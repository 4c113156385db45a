"""Excel and OpenDocument workbooks through python-calamine: one sheet, values as text.

Numbers show as Excel shows them without formatting (``12``, ``1.5``), dates and times
in ISO 8601, booleans as ``TRUE``/``FALSE``. Empty rows are not records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import pyarrow as pa
from python_calamine import CalamineSheet, CalamineWorkbook

from tidegate.compute.engine import Engine
from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.names import column_names
from tidegate.read.result import ROW, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import count, create_temp_table, drop

BATCH = 50_000


def read(
    con: Engine,
    source: Source,
    options: ReadOptions,
    fmt: str,
    table_name: str,
    workdir: Path,
) -> ReadResult:
    """Read the sheet's records into ``table_name``, in batches through Arrow."""
    rows = _rows(_sheet(source, options, workdir), options)
    first = next(rows, None)
    if first is None:
        raise EmptyFileError(source.label)
    # calamine gives every row the sheet's full width, so the first row sets it.
    names = column_names(first if options.header else [None] * len(first))
    body = rows if options.header else chain([first], rows)
    con.execute(create_temp_table(table_name, [(name, "VARCHAR") for name in names]))
    _insert(con, table_name, names, _records(body, options.null))
    total = count(con, table_name)
    if total == 0:
        drop(con, table_name)
        raise EmptyFileError(source.label)
    return ReadResult(table_name, names, total, [], fmt, None, {})


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """The header row (or ``column_<n>`` names) of the sheet."""
    rows = _rows(_sheet(source, options, workdir), options)
    first = next(rows, None)
    if first is None:
        raise EmptyFileError(source.label)
    return column_names(first) if options.header else column_names([None] * len(first))


def _sheet(source: Source, options: ReadOptions, workdir: Path) -> CalamineSheet:
    try:
        book = CalamineWorkbook.from_path(str(source.plain(workdir)))
    except Exception as exc:  # calamine raises its own untyped errors
        raise ReadError(source.label, f"not a readable workbook: {exc}") from exc
    wanted = 0 if options.sheet is None else options.sheet
    if isinstance(wanted, int):
        if not 0 <= wanted < len(book.sheet_names):
            raise ReadError(source.label, f"no sheet at index {wanted}; sheets: {book.sheet_names}")
        return book.get_sheet_by_index(wanted)
    if wanted not in book.sheet_names:
        raise ReadError(source.label, f"no sheet named {wanted!r}; sheets: {book.sheet_names}")
    return book.get_sheet_by_name(wanted)


def _rows(sheet: CalamineSheet, options: ReadOptions) -> Iterator[list[str]]:
    """Rows as text after ``skip_rows``; blank rows before the header are skipped too."""
    rows = (list(map(cell_text, row)) for row in sheet.iter_rows())
    for _ in range(options.skip_rows):
        next(rows, None)
    for row in rows:
        if any(row):
            yield row
            break
    yield from rows


def _records(
    rows: Iterator[list[str]], nulls: Sequence[str]
) -> Iterator[tuple[int, list[str | None]]]:
    """(ordinal, values) of each non-empty row; ``read.null`` values become None."""
    missing = set(nulls)
    ordinal = 0
    for row in rows:
        if not any(row):
            continue
        ordinal += 1
        yield ordinal, [None if value in missing else value for value in row]


def _insert(
    con: Engine,
    table_name: str,
    names: Sequence[str],
    records: Iterator[tuple[int, list[str | None]]],
) -> None:
    schema = pa.schema([pa.field(ROW, pa.int64())] + [pa.field(n, pa.string()) for n in names])
    batch: list[tuple[int, list[str | None]]] = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            _append(con, table_name, schema, batch)
            batch = []
    if batch:
        _append(con, table_name, schema, batch)


def _append(
    con: Engine,
    table_name: str,
    schema: pa.Schema,
    batch: list[tuple[int, list[str | None]]],
) -> None:
    width = len(schema) - 1
    columns: list[list[Any]] = [[ordinal for ordinal, _ in batch]]
    for index in range(width):
        columns.append([values[index] if index < len(values) else None for _, values in batch])
    con.append(
        table_name,
        pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
        ),
    )


def cell_text(value: Any) -> str:
    """A cell as text: ``12`` not ``12.0``, ISO dates, ``TRUE``/``FALSE``; empty is ``""``.

    >>> [cell_text(v) for v in (12.0, 1.5, True, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4))]
    ['12', '1.5', 'TRUE', '2024-01-02', '2024-01-02 03:04:00']
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return "" if value is None else str(value)
