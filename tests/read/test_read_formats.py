"""Format detection, archives, Parquet, Excel, and the errors a file can earn."""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tidegate.read
from tidegate.compute import Engine
from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read import detect_format, peek_columns

Reader = Callable[..., Any]
Rows = Callable[[Any], list[tuple[Any, ...]]]
Records = Callable[[Any], list[dict[str, Any]]]


def test_public_api() -> None:
    assert sorted(tidegate.read.__all__) == sorted(
        ["ROW", "BadRecord", "ReadResult", "detect_format", "peek_columns", "read_file"]
    )


def parquet_file(path: Path) -> Path:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "amount": pa.array([1.5, None, 3.25]),
            "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), None]),
            "_row": pa.array(["a", "b", "c"]),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", b"a,b\n", "csv"),
        ("a.CSV.gz", gzip.compress(b"a,b\n"), "csv"),
        ("a.tsv", b"a\tb\n", "tsv"),
        ("a.ndjson", b'{"a":1}\n', "jsonl"),
        ("a.json", b'[{"a":1}]', "json"),
        ("a.json", b'{"a":1}\n{"a":2}\n', "jsonl"),
        ("a.json", b'{\n "a": 1\n}\n', "json"),
        ("a.json.gz", gzip.compress(b'{"a":1}\n{"a":2}\n'), "jsonl"),
        ("a.parquet", b"PAR1", "parquet"),
        ("a.xlsx", b"PK\x03\x04", "xlsx"),
        ("export", b"id;name\n1;x\n", "csv"),
        ("export", b'[{"a": 1}]', "json"),
        ("export", b"PAR1....", "parquet"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    assert detect_format(path) == expected


def test_detect_format_hint(tmp_path: Path) -> None:
    path = tmp_path / "a.dat"
    path.write_bytes(b"a\tb\n")

    assert detect_format(path, "tsv") == "tsv"
    with pytest.raises(ReadError, match="unknown format 'xml'"):
        detect_format(path, "xml")


def test_zip_with_one_member(read: Reader, rows: Rows, tmp_path: Path) -> None:
    path = tmp_path / "delivery.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("export/people.csv", "a,b\n1,2\n")
        archive.writestr("__MACOSX/export/._people.csv", "junk")
        archive.writestr(".DS_Store", "junk")

    result = read(path)

    assert detect_format(path) == "csv"
    assert rows(result) == [(1, "1", "2")]
    assert peek_columns(path, ReadOptions()) == ["a", "b"]


def test_zip_with_a_json_lines_member(read: Reader, rows: Rows, tmp_path: Path) -> None:
    path = tmp_path / "events.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("events.json", '{"a": 1}\n{"a": 2}\n')

    assert read(path).format == "jsonl"


def test_zip_with_several_members(read: Reader, tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "a\n1\n")
        archive.writestr("b.csv", "b\n2\n")

    with pytest.raises(ReadError, match=r"exactly one data file; it holds 2: \['a.csv', 'b.csv'\]"):
        read(path)


def test_parquet_keeps_types(
    read: Reader, rows: Rows, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = parquet_file(tmp_path / "facts.parquet")

    result = read(path)

    assert result.format == "parquet" and result.encoding is None and result.dialect == {}
    assert result.columns == ["id", "amount", "day", "_row_2"]
    kinds = {n: k for n, k, *_ in con.execute(f'DESCRIBE "{result.table}"').fetchall()}
    assert kinds == {
        "_row": "BIGINT",
        "id": "BIGINT",
        "amount": "DOUBLE",
        "day": "DATE",
        "_row_2": "VARCHAR",
    }
    assert rows(result) == [
        (1, 1, 1.5, dt.date(2024, 1, 1), "a"),
        (2, 2, None, dt.date(2024, 1, 2), "b"),
        (3, 3, 3.25, None, "c"),
    ]
    assert peek_columns(path, ReadOptions()) == result.columns


def test_gzipped_parquet(read: Reader, tmp_path: Path) -> None:
    plain = parquet_file(tmp_path / "facts.parquet")
    path = tmp_path / "facts.parquet.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))

    assert read(path).rows == 3


def test_empty_parquet(read: Reader, tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)

    with pytest.raises(EmptyFileError):
        read(path)


def workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "People"
    sheet.append(["name", "born", "count", None, "name", "ok", "at"])
    sheet.append(
        ["José", dt.date(1990, 5, 17), 12, "x", "dup", True, dt.datetime(2024, 1, 2, 3, 4, 5)]
    )
    sheet.append([])
    sheet.append(["Ann", None, 1.25, None, None, False, None])
    other = book.create_sheet("Other")
    other.append(["k"])
    other.append(["v"])
    book.save(path)
    return path


def test_excel(read: Reader, rows: Rows, con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = workbook(tmp_path / "people.xlsx")

    result = read(path)

    assert result.format == "xlsx"
    assert result.columns == ["name", "born", "count", "column_4", "name_2", "ok", "at"]
    assert rows(result) == [
        (1, "José", "1990-05-17", "12", "x", "dup", "TRUE", "2024-01-02 03:04:05"),
        (2, "Ann", None, "1.25", None, None, "FALSE", None),
    ]
    kinds = {k for _, k, *_ in con.execute(f'DESCRIBE "{result.table}"').fetchall()}
    assert kinds == {"BIGINT", "VARCHAR"}
    assert peek_columns(path, ReadOptions()) == result.columns


def test_excel_sheet_choice(read: Reader, rows: Rows, tmp_path: Path) -> None:
    path = workbook(tmp_path / "people.xlsx")

    assert rows(read(path, sheet="Other")) == [(1, "v")]
    assert rows(read(path, sheet=1)) == [(1, "v")]
    assert read(path, null=[], sheet=0).rows == 2
    with pytest.raises(ReadError, match=r"no sheet named 'Nope'; sheets: \['People', 'Other'\]"):
        read(path, sheet="Nope")


def test_excel_without_header(read: Reader, rows: Rows, tmp_path: Path) -> None:
    path = workbook(tmp_path / "people.xlsx")

    result = read(path, sheet="Other", header=False)

    assert result.columns == ["column_1"]
    assert rows(result) == [(1, "k"), (2, "v")]


def test_excel_header_only(read: Reader, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["a", "b"])
    book.save(tmp_path / "header.xlsx")

    with pytest.raises(EmptyFileError):
        read(tmp_path / "header.xlsx")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.csv.gz", b"\x1f\x8b\x08\x00garbage", "cannot read"),
        ("broken.parquet", b"PAR1 not really", "broken.parquet"),
        ("broken.xlsx", b"PK\x03\x04 not really", "not a readable"),
        ("broken.zip", b"PK\x03\x04 not really", "not a readable zip"),
    ],
)
def test_unreadable_files(
    read: Reader, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(ReadError, match=message) as caught:
        read(path)
    assert caught.value.file == str(path)


def test_missing_file(read: Reader, tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file"):
        read(tmp_path / "nothing.csv")


def test_empty_file(read: Reader, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")

    with pytest.raises(EmptyFileError) as caught:
        read(tmp_path / "empty.csv")
    assert caught.value.file == str(tmp_path / "empty.csv")


def test_the_table_is_replaced_and_named(
    read: Reader, con: duckdb.DuckDBPyConnection, engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_bytes(b"a\n1\n2\n")
    (tmp_path / "b.csv").write_bytes(b"b\n3\n")

    first = tidegate.read.read_file(engine, tmp_path / "a.csv", ReadOptions(), table="raw_a")
    second = tidegate.read.read_file(engine, tmp_path / "a.csv", ReadOptions(), table="raw_a")
    other = tidegate.read.read_file(engine, tmp_path / "b.csv", ReadOptions())

    assert (first.table, second.table, other.table) == ("raw_a", "raw_a", "_tg_read")
    assert con.execute('SELECT count(*) FROM "raw_a"').fetchall() == [(2,)]
    temp = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY table_name"
    ).fetchall()
    assert temp == [("_tg_read",), ("raw_a",)]  # no scratch tables left behind


def test_a_failed_read_leaves_no_table(
    read: Reader, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    (tmp_path / "good.csv").write_bytes(b"a\n1\n")
    (tmp_path / "bad.json").write_bytes(b'[{"a": 1}, {"a": ')
    read(tmp_path / "good.csv")

    with pytest.raises(ReadError):
        read(tmp_path / "bad.json")

    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert tables == []
