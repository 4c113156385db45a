"""Files that used to stop a read: mixed line endings, long fields, deep JSON, engine errors."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.compute import local
from tidegate.config.models import ReadOptions
from tidegate.errors import ReadError
from tidegate.read import read_file
from tidegate.read.failures import explain
from tidegate.read.json import MAX_DEPTH
from tidegate.read.newlines import normalise_text

Reader = Callable[..., Any]
Rows = Callable[[Any], list[tuple[Any, ...]]]

DEEP = 10_000


def test_cp1252_semicolons_quoted_header_break_and_mixed_endings(
    read: Reader, rows: Rows, tmp_path: Path
) -> None:
    text = (
        '"id";"full\r\nname";"city"\r\n'
        '1;"Zoë";"Köln"\n'
        '2;"André";"Genève"\r\n'
        '3;"Łukasz";"Malmö"\n'.replace("Ł", "L")
    )
    path = tmp_path / "kunden.csv"
    path.write_bytes(text.encode("cp1252"))

    result = read(path)

    assert result.encoding == "cp1252"
    assert result.columns[0] == "id" and result.columns[2] == "city"
    assert rows(result) == [
        (1, "1", "Zoë", "Köln"),
        (2, "2", "André", "Genève"),
        (3, "3", "Lukasz", "Malmö"),
    ]
    assert result.dialect["delimiter"] == ";"
    assert result.dialect["newline"] == "mixed"
    assert result.bad == []


def test_small_file_mixing_crlf_lf_and_cr(read: Reader, rows: Rows, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b'id,note\r\n1,a\n2,"b\r\nc"\r3,d\r\n4,e\n')

    result = read(path)

    assert rows(result) == [
        (1, "1", "a"),
        (2, "2", "b\r\nc"),
        (3, "3", "d"),
        (4, "4", "e"),
    ]
    assert result.bad == []


def test_mixed_endings_keep_bad_records_and_their_lines(
    read: Reader, rows: Rows, tmp_path: Path
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"id,note\r\n1,a\n2,b,extra\r3,c\r\n")

    result = read(path)

    assert rows(result) == [(1, "1", "a"), (3, "3", "c")]
    assert [(b.row, b.line, b.reason) for b in result.bad] == [
        (2, 3, "expected 2 columns, found 3")
    ]


def test_mixed_endings_in_a_gzip_file(read: Reader, rows: Rows, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv.gz"
    path.write_bytes(gzip.compress(b"id;v\r\n1;x\n2;y\r3;z"))

    assert rows(read(path)) == [(1, "1", "x"), (2, "2", "y"), (3, "3", "z")]


@pytest.mark.parametrize(
    ("chunks", "quote", "escape", "expected"),
    [
        (["a\r\nb\rc\n"], '"', '"', "a\nb\nc\n"),
        (['"x\r\ny"\r', "\nz"], '"', '"', '"x\r\ny"\nz'),
        (['a,"p ""\r', '"" q\r\n"\r\n'], '"', '"', 'a,"p ""\r"" q\r\n"\n'),
        (['"a\\', '"\r\nb"\r\n'], '"', "\\", '"a\\"\r\nb"\n'),
        (["a\r\nb"], "", "", "a\nb"),
    ],
    ids=["plain", "split-crlf", "doubled-quotes", "backslash-escape", "no-quote"],
)
def test_normalise_touches_endings_outside_quotes_only(
    chunks: list[str], quote: str, escape: str, expected: str
) -> None:
    assert normalise_text(chunks, quote, escape) == expected


@pytest.mark.parametrize("quoted", [False, True], ids=["bare", "quoted"])
def test_a_field_over_python_csv_limit_is_a_value(
    read: Reader, con: duckdb.DuckDBPyConnection, tmp_path: Path, quoted: bool
) -> None:
    big = "x" * (200 * 1024)
    cell = f'"{big}"' if quoted else big
    path = tmp_path / "big.csv"
    path.write_text(f"id,body\n1,{cell}\n2,small\n", encoding="utf-8")

    result = read(path)

    lengths = con.execute(f'SELECT _row, length(body) FROM "{result.table}" ORDER BY 1').fetchall()
    assert lengths == [(1, len(big)), (2, 5)]
    assert result.bad == []


def test_a_record_over_duckdb_default_line_size_is_read(
    read: Reader, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("id,body\n1," + "y" * (3 << 20) + "\n", encoding="utf-8")

    result = read(path)

    assert result.rows == 1 and result.bad == []


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("shape", ["object", "array"])
def test_a_deep_json_document_is_a_bad_record(
    read: Reader, tmp_path: Path, shape: str, gz: bool
) -> None:
    record = '{"id": 1, "v": ' + _deep(DEEP) + "}"
    text = record if shape == "object" else f"[{record}]"
    path = tmp_path / ("deep.json.gz" if gz else "deep.json")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())

    result = read(path)

    assert result.rows == 0
    assert [(b.row, b.reason) for b in result.bad] == [
        (1, f"nested deeper than {MAX_DEPTH} levels")
    ]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_deep_json_line_is_a_bad_record_the_others_read(
    read: Reader, rows: Rows, tmp_path: Path, gz: bool
) -> None:
    text = '{"id": "a"}\n{"id": "b", "v": ' + _deep(DEEP) + '}\n{"id": "c"}\n'
    path = tmp_path / ("deep.jsonl.gz" if gz else "deep.jsonl")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())

    result = read(path)

    assert [row[:2] for row in rows(result)] == [(1, "a"), (3, "c")]
    assert [(b.row, b.line, b.reason) for b in result.bad] == [
        (2, 2, f"nested deeper than {MAX_DEPTH} levels")
    ]


def test_nesting_at_the_limit_reads(read: Reader, tmp_path: Path) -> None:
    path = tmp_path / "limit.jsonl"
    path.write_text('{"v": ' + _deep(MAX_DEPTH - 1) + '}\n{"v": "[[[[[["}\n', encoding="utf-8")

    result = read(path)

    assert result.rows == 2 and result.bad == []


def test_an_engine_error_is_a_read_error_in_the_users_terms(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": 1, "v": [1, 2}', encoding="utf-8")

    with pytest.raises(ReadError) as raised:
        read_file(local(), path, ReadOptions(), fmt="json")

    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert "Error:" not in message and "state machine" not in message
    assert message.endswith("not valid JSON at byte 21: unexpected character")


@pytest.mark.parametrize(
    ("engine", "reason"),
    [
        (
            "Invalid Input Error: The CSV Parser state machine reached an invalid state.\n"
            "This can happen when ...",
            "the records cannot be split with the dialect found; "
            "check read.delimiter, read.quote and read.escape",
        ),
        (
            "Invalid Input Error: CSV Error on Line: 12\nOriginal Line: a;b",
            "the records cannot be split at line 12; "
            "check read.delimiter, read.quote and read.escape",
        ),
        (
            'Invalid Input Error: Malformed JSON in file "x.json", at byte 3 in record/value 2: '
            "unexpected character.",
            "not valid JSON at byte 3: unexpected character",
        ),
        ("Binder Error: something odd", "cannot be read as CSV: something odd"),
    ],
    ids=["state-machine", "csv-line", "json", "other"],
)
def test_engine_wording_becomes_a_reason(engine: str, reason: str) -> None:
    assert explain(duckdb.InvalidInputException(engine), "csv") == reason
