"""Fixtures of the reading room: a DuckDB connection and the files it reads.

Every file a test reads is in the repository: the exercises' files are the example
projects' landing folders and ``tests/data/`` (see its README), csv-spectrum is in
``tests/data/csv-spectrum/``. No test depends on a folder outside the repository, or on
the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.compute.duckdb import DuckDBEngine
from tidegate.config.models import ReadOptions
from tidegate.read import ReadResult, read_file

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def csv_spectrum() -> Path:
    """csv-spectrum 2.0.0: its ``csvs/`` and the expected ``json/``."""
    return DATA / "csv-spectrum"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


Reader = Callable[..., ReadResult]
Rows = Callable[[ReadResult], list[tuple[Any, ...]]]
Records = Callable[[ReadResult], list[dict[str, Any]]]


@pytest.fixture
def engine(con: duckdb.DuckDBPyConnection) -> DuckDBEngine:
    """The compute engine over ``con``, which the tests read back with plain SQL."""
    return DuckDBEngine(con, owned=False)


@pytest.fixture
def read(engine: DuckDBEngine) -> Reader:
    """``read(path, fmt="auto", **read_options)`` into ``con``."""

    def reader(path: Path, fmt: str = "auto", **options: Any) -> ReadResult:
        return read_file(engine, path, ReadOptions(**options), fmt=fmt)

    return reader


@pytest.fixture
def rows(con: duckdb.DuckDBPyConnection) -> Rows:
    """Every row of a result's table, ``_row`` first, in ``_row`` order."""

    def fetch(result: ReadResult) -> list[tuple[Any, ...]]:
        return con.execute(f'SELECT * FROM "{result.table}" ORDER BY _row').fetchall()

    return fetch


@pytest.fixture
def records(rows: Rows) -> Records:
    """The good rows as dicts, without ``_row``."""

    def fetch(result: ReadResult) -> list[dict[str, Any]]:
        return [dict(zip(result.columns, row[1:], strict=True)) for row in rows(result)]

    return fetch
