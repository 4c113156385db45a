"""The exercises' real files: exercise 000's three CSVs and exercise 004's JSON Lines.

They are in the repository: the example projects hold the exercises' files in their
landing folders, and tests/data/ the CRLF originals of exercise 000.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.config.models import ReadOptions
from tidegate.read import detect_format, peek_columns

Reader = Callable[..., Any]
Rows = Callable[[Any], list[tuple[Any, ...]]]

REPO = Path(__file__).resolve().parents[2]
BW_LF = REPO / "examples" / "000-prospective-leads" / "landing"
BW_CRLF = REPO / "tests" / "data" / "exercises" / "bw_de_exercise" / "original_crlf"
HNB = REPO / "examples" / "004-shop-events" / "landing"

BW = {
    "TechnicalExerciseDataSource1.csv": (70, 13),
    "TechnicalExerciseDataSource2.csv": (28, 30),
    "TechnicalExerciseDataSource3.csv": (29, 20),
}
FOLDERS = {"lf": BW_LF, "crlf": BW_CRLF}


def test_every_exercise_file_is_in_the_repository() -> None:
    for folder in FOLDERS.values():
        assert sorted(p.name for p in folder.glob("*.csv")) == sorted(BW)
    assert len(list(HNB.glob("date=*/hour=*/*.json*"))) == 968


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", sorted(BW))
def test_brightwheel_files(read: Reader, rows: Rows, folder: str, name: str) -> None:
    result = read(FOLDERS[folder] / name)

    records, width = BW[name]
    assert (result.rows, len(result.columns), result.bad) == (records, width, [])
    assert [r[0] for r in rows(result)] == list(range(1, records + 1))
    assert result.dialect["newline"] == ("\r\n" if folder == "crlf" else "\n")


def value(con: duckdb.DuckDBPyConnection, result: Any, column: str, where: str, equals: str) -> Any:
    query = f'SELECT "{column}" FROM "{result.table}" WHERE "{where}" = ?'  # test-only SQL
    return con.execute(query, [equals]).fetchall()


@pytest.mark.parametrize("folder", FOLDERS)
def test_oklahoma_multi_line_caregiver(
    read: Reader, con: duckdb.DuckDBPyConnection, folder: str
) -> None:
    result = read(FOLDERS[folder] / "TechnicalExerciseDataSource2.csv")

    found = value(con, result, "Primary Caregiver", "Phone", "(209) 747-1797")
    assert found == [("Elizabeth Hellstrom\n \n Primary Caregiver",)]


@pytest.mark.parametrize("folder", FOLDERS)
def test_texas_broken_quoting(read: Reader, con: duckdb.DuckDBPyConnection, folder: str) -> None:
    result = read(FOLDERS[folder] / "TechnicalExerciseDataSource3.csv")

    names = [r[0] for r in con.execute(f'SELECT "Operation Name" FROM "{result.table}"').fetchall()]
    assert 'K" Street Learning Center LLC"' in names
    assert value(con, result, "Agency Number", "Operation", "1730398") == [(None,)]


def test_nevada_non_ascii(read: Reader, con: duckdb.DuckDBPyConnection) -> None:
    result = read(BW_LF / "TechnicalExerciseDataSource1.csv")

    names = [r[0] for r in con.execute(f'SELECT "Name" FROM "{result.table}"').fetchall()]
    assert "MY LITTLE ANGELíS HOME DAYCARE LLC" in names
    assert result.encoding == "utf-8"


def test_customers_json_lines(read: Reader, con: duckdb.DuckDBPyConnection) -> None:
    path = HNB / "date=2020-01-01" / "hour=00" / "customers.json.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()

    result = read(path)

    assert detect_format(path) == "jsonl"
    assert result.format == "jsonl"
    assert result.rows == len(lines) and result.bad == []
    assert result.columns[:3] == ["id", "first_name", "last_name"]
    assert "date" not in result.columns  # the date=/hour= folders are not columns
    types = dict(con.execute(f'DESCRIBE "{result.table}"').fetchall()[i][:2] for i in range(3))
    assert types == {"_row": "BIGINT", "id": "VARCHAR", "first_name": "VARCHAR"}
    assert peek_columns(path, ReadOptions()) == result.columns


def test_customers_keep_leading_zeros_and_newlines(
    read: Reader, con: duckdb.DuckDBPyConnection
) -> None:
    folder = HNB / "date=2020-01-01"
    ids: list[str] = []
    addresses: list[str] = []
    for path in sorted(folder.glob("hour=*/customers.json.gz")):
        result = read(path)
        got = con.execute(f'SELECT id, address FROM "{result.table}"').fetchall()
        ids += [r[0] for r in got]
        addresses += [r[1] for r in got if r[1]]
    assert any(i.startswith("0") and len(i) == 6 for i in ids)
    assert any("\n" in a for a in addresses)


def test_erasure_request_is_a_single_object(read: Reader, rows: Rows) -> None:
    path = HNB / "date=2020-01-22" / "hour=00" / "erasure-requests.json"

    result = read(path)

    assert detect_format(path) == "json"
    assert result.columns == ["customer-id", "email"]
    assert result.rows == 1 and result.bad == []
    assert rows(result)[0][0] == 1


def test_transactions_nest_as_json(read: Reader, con: duckdb.DuckDBPyConnection) -> None:
    path = HNB / "date=2020-01-01" / "hour=00" / "transactions.json.gz"

    result = read(path)

    types = {name: kind for name, kind, *_ in con.execute(f'DESCRIBE "{result.table}"').fetchall()}
    assert types["delivery_address"] == "JSON" and types["purchases"] == "JSON"
    assert types["customer_id"] == "VARCHAR"
    items = con.execute(
        "SELECT count(*), sum(CAST(p ->> '$.quanitity' AS INTEGER)) > 0 FROM "
        f"(SELECT unnest(CAST(purchases -> '$.products' AS JSON[])) AS p FROM \"{result.table}\")"
    ).fetchall()[0]
    assert items[0] >= result.rows and items[1]
