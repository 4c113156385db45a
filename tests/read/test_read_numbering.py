"""Good rows are numbered around the bad ones, by range updates or by one ASOF join."""

from __future__ import annotations

import random

import duckdb
import pytest

from tidegate.compute.duckdb import DuckDBEngine
from tidegate.read import tables
from tidegate.read.names import column_names


def numbered(con: duckdb.DuckDBPyConnection, good: int, bad: list[int]) -> list[int]:
    engine = DuckDBEngine(con, owned=False)
    engine.execute(tables.create_temp_table("t", [("v", "VARCHAR")]))
    con.execute("INSERT INTO t SELECT NULL, CAST(i AS VARCHAR) FROM range(?) r(i)", [good])
    tables.number_rows(engine, "t", bad)
    return [r[0] for r in con.execute("SELECT _row FROM t ORDER BY rowid").fetchall()]


@pytest.mark.parametrize("limit", [0, 1024], ids=["join", "ranges"])
@pytest.mark.parametrize("seed", range(6))
def test_numbering_matches_a_plain_count(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, limit: int, seed: int
) -> None:
    rng = random.Random(seed)
    total = rng.randint(1, 60)
    bad = sorted(rng.sample(range(1, total + 1), rng.randint(0, total - 1)))
    monkeypatch.setattr(tables, "MAX_RANGE_UPDATES", limit)

    got = numbered(con, total - len(bad), bad)

    assert got == [n for n in range(1, total + 1) if n not in bad]


def test_bad_first_and_last(con: duckdb.DuckDBPyConnection) -> None:
    assert numbered(con, 3, [1, 2, 6]) == [3, 4, 5]


def test_names_are_stable() -> None:
    header = ["a", "A", "", "a_2", None, " ", "_ROW"]

    assert column_names(header) == [
        "a",
        "A_2",
        "column_3",
        "a_2_2",
        "column_5",
        "column_6",
        "_ROW_2",
    ]
    assert column_names(header) == column_names(list(header))
