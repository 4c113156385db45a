"""``tidegate init --from`` on a file of 10,000 columns, then ``tidegate run``, end to end.

Issue 12 found drafting and loading such a file took minutes; this pins that the whole path
works at that width (how long it takes is measured in docs/benchmarks.md, not here): the
draft is a project that loads, the run takes every row with every column, the ledger row
adds up, and a second run finds nothing to do.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb

from tidegate.config import load_project

from ..pipeline.conftest import tidegate

COLUMNS = 10_000
ROWS = 3
KINDS = ("integer", "varchar", "date")  # column i is of kind i % 3


def _value(row: int, column: int) -> str:
    kind = KINDS[column % 3]
    if kind == "integer":
        return str(row * COLUMNS + column)
    return f"v{row}_{column}" if kind == "varchar" else f"2024-01-0{row + 1}"


def _typed(row: int, column: int) -> object:
    kind = KINDS[column % 3]
    if kind == "integer":
        return row * COLUMNS + column
    return f"v{row}_{column}" if kind == "varchar" else date(2024, 1, row + 1)


def _sample(folder: Path) -> Path:
    header = ",".join(f"c{i}" for i in range(COLUMNS))
    rows = [",".join(_value(r, c) for c in range(COLUMNS)) for r in range(ROWS)]
    folder.mkdir(parents=True)
    path = folder / "wide_1.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    os.utime(path, (1_000_000_000, 1_000_000_000))  # settled long ago: the run takes it
    return path


def test_a_draft_of_10000_columns_loads_every_row_and_column_once(tmp_path: Path) -> None:
    sample = _sample(tmp_path / "incoming")
    root = tmp_path / "drafted"

    made = tidegate(None, "init", str(root), "--from", str(sample))
    assert made.returncode == 0, made.stderr

    project = load_project(root)  # the draft parses and passes the project's checks
    [(name, target)] = project.targets.items()
    assert list(target.columns) == [f"c{i}" for i in range(COLUMNS)]
    assert [target.columns[f"c{i}"].type for i in range(3)] == ["bigint", "varchar", "date"]
    [source] = project.sources.values()
    assert source.outputs[0].columns["c9999"] == '"c9999"'

    done = tidegate(root, "run", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    [file] = json.loads(done.stdout)["files"]
    assert (file["name"], file["status"], file["rows_read"]) == ("wide_1.csv", "loaded", ROWS)
    assert (file["rows_loaded"], file["rows_quarantined"], file["rows_duplicate"]) == (ROWS, 0, 0)

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        names = [r[0] for r in con.execute(f'DESCRIBE core."{name}"').fetchall()]
        loaded = con.execute(f'SELECT * FROM core."{name}" ORDER BY _row').fetchall()
        raw = con.execute(f'SELECT * EXCLUDE (_file_id) FROM raw."{name}" ORDER BY _row').fetchall()
        [ledger] = con.execute(
            "SELECT file_id, status, rows_read, rows_loaded, rows_unchanged, rows_quarantined,"
            " rows_duplicate FROM tidegate.files"
        ).fetchall()
        [(in_target,)] = con.execute(
            f'SELECT count(*) FROM core."{name}" WHERE _file_id = ?', [ledger[0]]
        ).fetchall()
        [(quarantined,)] = con.execute("SELECT count(*) FROM tidegate.quarantine").fetchall()

    assert names[:COLUMNS] == [f"c{i}" for i in range(COLUMNS)]
    # Every value in its own column, typed as drafted.
    assert [list(row[:COLUMNS]) for row in loaded] == [
        [_typed(r, c) for c in range(COLUMNS)] for r in range(ROWS)
    ]
    assert [list(row) for row in raw] == [
        [r + 1, *(_value(r, c) for c in range(COLUMNS))] for r in range(ROWS)
    ]
    # The ledger adds up: read = loaded + unchanged + quarantined + duplicate, all in the table.
    _, status, read, rows_loaded, unchanged, rows_quarantined, duplicate = ledger
    assert status == "loaded"
    assert read == rows_loaded + unchanged + rows_quarantined + duplicate == ROWS
    assert (in_target, quarantined) == (rows_loaded, 0)
    assert not any((root / "landing").iterdir())  # archived

    again = tidegate(root, "run", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["files"] == []
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        [(count,)] = con.execute(f'SELECT count(*) FROM core."{name}"').fetchall()
        [(files,)] = con.execute("SELECT count(*) FROM tidegate.files").fetchall()
    assert (count, files) == (ROWS, 1)
