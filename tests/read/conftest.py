"""Fixtures of the reading room: a DuckDB connection, the exercises folder, csv-spectrum."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.config.models import ReadOptions
from tidegate.read import ReadResult, read_file

REPO = Path(__file__).resolve().parents[2]
CSV_SPECTRUM = "csv-spectrum@2.0.0"


def exercises_dir() -> Path | None:
    """``$TIDEGATE_EXERCISES``, else ``shared/exercises`` beside the repository."""
    given = os.environ.get("TIDEGATE_EXERCISES")
    candidate = Path(given) if given else REPO.parent / "shared" / "exercises"
    return candidate if candidate.is_dir() else None


def unavailable(reason: str) -> None:
    """Skip locally; in CI a missing input is a failure, never a silent skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def exercises() -> Path:
    found = exercises_dir()
    if found is None:
        unavailable("the exercises folder is missing (set TIDEGATE_EXERCISES)")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def csv_spectrum() -> Path:
    """The csv-spectrum package from npm, cached under .cache/ (its csvs/ and json/)."""
    cache = REPO / ".cache" / "csv-spectrum"
    package = cache / "package"
    if (package / "csvs").is_dir():
        return package
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed, so csv-spectrum cannot be fetched")
    assert npm is not None
    cache.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [npm, "pack", CSV_SPECTRUM], cwd=cache, check=True, capture_output=True, timeout=300
        )
        tarball = next(cache.glob("csv-spectrum-*.tgz"))
        with tarfile.open(tarball) as archive:
            archive.extractall(cache, filter="data")
    except (subprocess.SubprocessError, OSError, StopIteration, tarfile.TarError) as exc:
        unavailable(f"npm pack {CSV_SPECTRUM} failed: {exc}")
    return package


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


Reader = Callable[..., ReadResult]
Rows = Callable[[ReadResult], list[tuple[Any, ...]]]
Records = Callable[[ReadResult], list[dict[str, Any]]]


@pytest.fixture
def read(con: duckdb.DuckDBPyConnection) -> Reader:
    """``read(path, fmt="auto", **read_options)`` into ``con``."""

    def reader(path: Path, fmt: str = "auto", **options: Any) -> ReadResult:
        return read_file(con, path, ReadOptions(**options), fmt=fmt)

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
