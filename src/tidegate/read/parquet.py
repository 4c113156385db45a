"""Parquet: columns keep their types; ``_row`` is the row's position in the file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tidegate.compute.engine import Engine, ParquetRead
from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError
from tidegate.read.names import column_names
from tidegate.read.result import ROW, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import count, drop


def read(
    con: Engine,
    source: Source,
    options: ReadOptions,
    fmt: str,
    table_name: str,
    workdir: Path,
) -> ReadResult:
    """Read every row of the file into ``table_name``."""
    path = source.plain(workdir)
    original = pq.read_schema(path).names
    names = column_names(original)
    read = ParquetRead(str(path), list(zip(original, names, strict=True)), ROW)
    con.read_parquet(read, table_name)
    rows = count(con, table_name)
    if rows == 0:
        drop(con, table_name)
        raise EmptyFileError(source.label)
    return ReadResult(table_name, names, rows, [], fmt, None, {})


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """Names from the footer; nothing else is read."""
    return column_names(pq.read_schema(source.plain(workdir)).names)
