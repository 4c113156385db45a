"""A file of thousands of columns loads like a narrow one: every column typed, checked and
loaded, a bad value in the last column quarantined with its reason.

DuckDB only: PostgreSQL allows 1,600 columns in a table and SQLite 2,000 (with tidegate's
lineage columns beside them, fewer), so a file this wide fits no other warehouse.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb

from tidegate.config import load_project
from tidegate.pipeline import run

from .conftest import PROJECT, land, write_project

COLUMNS = 2_000
KINDS = ("integer", "varchar", "date")  # column i is of kind i % 3


def _target() -> str:
    lines = [f"  c{i}: {{type: {KINDS[i % 3]}}}" for i in range(COLUMNS)]
    return "columns:\n" + "\n".join(lines) + "\nload: append\n"


def _source() -> str:
    lines = [f"    c{i}: '\"c{i}\"'" for i in range(COLUMNS)]
    return 'match: "wide*.csv"\noutputs:\n- target: wide\n  columns:\n' + "\n".join(lines) + "\n"


def _value(row: int, column: int) -> str:
    kind = KINDS[column % 3]
    if kind == "integer":
        return str(row * COLUMNS + column)
    return f"v{row}_{column}" if kind == "varchar" else f"2024-01-0{row + 1}"


def _csv(rows: list[list[str]]) -> str:
    header = ",".join(f"c{i}" for i in range(COLUMNS))
    return "\n".join([header, *(",".join(r) for r in rows)]) + "\n"


def test_a_file_of_2000_columns_loads_every_column(tmp_path: Path) -> None:
    files = {"tidegate.yml": PROJECT, "targets/wide.yml": _target(), "sources/wide.yml": _source()}
    project = write_project(tmp_path, files)
    rows = [[_value(r, c) for c in range(COLUMNS)] for r in range(3)]
    last = max(c for c in range(COLUMNS) if KINDS[c % 3] == "integer")
    rows[2][last] = "many"  # the third record breaks the type of a late column
    land(project, "wide_1.csv", _csv(rows))

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
        [(reasons,)] = con.execute("SELECT reasons FROM tidegate.quarantine").fetchall()
    assert names[:COLUMNS] == [f"c{i}" for i in range(COLUMNS)]
    assert [list(r[:COLUMNS]) for r in loaded] == [
        [
            int(v) if c % 3 == 0 else date(2024, 1, r + 1) if c % 3 == 2 else v
            for c, v in enumerate(row)
        ]
        for r, row in enumerate(rows[:2])
    ]
    assert json.loads(reasons) == [
        {
            "rule": "type",
            "column": f"c{last}",
            "value": "many",
            "message": "expected a valid integer",
        }
    ]
