"""Helpers for the reading room's tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tidegate.config.models import ReadOptions
from tidegate.read import ReadResult, read_file


def read(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str = "auto", **options: Any
) -> ReadResult:
    return read_file(con, path, ReadOptions(**options), fmt=fmt)


def rows(con: duckdb.DuckDBPyConnection, result: ReadResult) -> list[tuple[Any, ...]]:
    """Every row of the result's table, ``_row`` first, in ``_row`` order."""
    query = f'SELECT * FROM "{result.table}" ORDER BY _row'  # test-only SQL
    return con.execute(query).fetchall()


def records(con: duckdb.DuckDBPyConnection, result: ReadResult) -> list[dict[str, Any]]:
    """The good rows as dicts without ``_row``."""
    return [dict(zip(result.columns, row[1:], strict=True)) for row in rows(con, result)]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write text exactly (no newline translation)."""
    path.write_bytes(text.encode(encoding))
    return path
