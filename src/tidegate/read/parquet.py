"""Parquet: columns keep their types; ``_row`` is the row's position in the file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from sqlglot import exp

from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError
from tidegate.read.names import column_names
from tidegate.read.result import ROW, ReadResult
from tidegate.read.source import Source
from tidegate.read.tables import count, drop
from tidegate.sql import col, table

POSITION = "file_row_number"


def read(
    con: duckdb.DuckDBPyConnection,
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
    reader = exp.Table(
        this=exp.Anonymous(
            this="read_parquet",
            expressions=[
                exp.Placeholder(),
                exp.PropertyEQ(this=exp.to_identifier(POSITION), expression=exp.true()),
                exp.PropertyEQ(this=exp.to_identifier("hive_partitioning"), expression=exp.false()),
            ],
        )
    )
    row = exp.cast(col(POSITION) + exp.Literal.number(1), "BIGINT")
    query = exp.select(
        exp.alias_(row, ROW, quoted=True),
        *(exp.alias_(col(old), new, quoted=True) for old, new in zip(original, names, strict=True)),
    ).from_(reader)
    create = exp.Create(
        this=table(table_name),
        kind="TABLE",
        replace=True,
        expression=query,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )
    con.execute(create.sql(dialect="duckdb"), [str(path)])
    rows = count(con, table_name)
    if rows == 0:
        drop(con, table_name)
        raise EmptyFileError(source.label)
    return ReadResult(table_name, names, rows, [], fmt, None, {})


def peek(source: Source, options: ReadOptions, fmt: str, workdir: Path) -> list[str]:
    """Names from the footer; nothing else is read."""
    return column_names(pq.read_schema(source.plain(workdir)).names)
