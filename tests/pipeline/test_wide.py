"""A file of thousands of columns loads like a narrow one: every column typed, checked and
loaded, a bad value in the last column quarantined with its reason.

DuckDB only: PostgreSQL allows 1,600 columns in a table and SQLite 2,000 (with tidegate's
lineage columns beside them, fewer), so a file this wide fits no other warehouse.

A third of the columns are dates with a format, as ``tidegate draft`` writes them: their
cast reads the trimmed text twice (the format, then ISO), which DuckDB's
common-subexpression pass once took minutes over at 10,000 columns.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tidegate.config import load_project
from tidegate.pipeline import run

from .conftest import PROJECT, land, write_project

KINDS = ("integer", "varchar", "date")  # column i is of kind i % 3
SPECS = {"integer": "{type: integer}", "varchar": "{type: varchar}"}
SPECS["date"] = "{type: date, formats: ['%Y-%m-%d']}"


def _target(columns: int) -> str:
    lines = [f"  c{i}: {SPECS[KINDS[i % 3]]}" for i in range(columns)]
    return "columns:\n" + "\n".join(lines) + "\nload: append\n"


def _source(columns: int) -> str:
    lines = [f"    c{i}: '\"c{i}\"'" for i in range(columns)]
    return 'match: "wide*.csv"\noutputs:\n- target: wide\n  columns:\n' + "\n".join(lines) + "\n"


def _value(row: int, column: int, columns: int) -> str:
    kind = KINDS[column % 3]
    if kind == "integer":
        return str(row * columns + column)
    return f"v{row}_{column}" if kind == "varchar" else f"2024-01-0{row + 1}"


def _typed(row: int, column: int, value: str) -> object:
    kind = KINDS[column % 3]
    if kind == "integer":
        return int(value)
    return date(2024, 1, row + 1) if kind == "date" else value


def _csv(rows: list[list[str]], columns: int) -> str:
    header = ",".join(f"c{i}" for i in range(columns))
    return "\n".join([header, *(",".join(r) for r in rows)]) + "\n"


# 10,000 passes too (the bad value then in column 9,999), but takes about 100 s of CPU:
# too long for every run of the suite. Add it here to check a change to wide files.
WIDTHS = [2_000]


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_file_of_thousands_of_columns_loads_every_column(tmp_path: Path, columns: int) -> None:
    files = {
        "tidegate.yml": PROJECT,
        "targets/wide.yml": _target(columns),
        "sources/wide.yml": _source(columns),
    }
    project = write_project(tmp_path, files)
    rows = [[_value(r, c, columns) for c in range(columns)] for r in range(3)]
    last = max(c for c in range(columns) if KINDS[c % 3] == "integer")
    assert columns != 10_000 or last == 9_999
    rows[2][last] = "many"  # the third record breaks the type of a late column
    land(project, "wide_1.csv", _csv(rows, columns))

    [file] = run(load_project(project)).files

    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        3,
        2,
        1,
    )
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        names = [r[0] for r in con.execute("DESCRIBE core.wide").fetchall()]
        loaded = con.execute("SELECT * FROM core.wide ORDER BY _row").fetchall()
        [(row, reasons, record)] = con.execute(
            "SELECT row, reasons, record FROM tidegate.quarantine"
        ).fetchall()
        raw = con.execute("SELECT * EXCLUDE (_file_id) FROM raw.wide ORDER BY _row").fetchall()
    assert names[:columns] == [f"c{i}" for i in range(columns)]
    # Every value in its own column, typed.
    assert [list(r[:columns]) for r in loaded] == [
        [_typed(r, c, v) for c, v in enumerate(row)] for r, row in enumerate(rows[:2])
    ]
    assert (row, json.loads(reasons)) == (
        3,
        [
            {
                "rule": "type",
                "column": f"c{last}",
                "value": "many",
                "message": "expected a valid integer",
            }
        ],
    )
    assert json.loads(record)[f"c{last}"] == "many"
    assert [list(r) for r in raw] == [[r + 1, *rows[r]] for r in range(3)]
