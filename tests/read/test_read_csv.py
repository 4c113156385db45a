"""CSV and TSV: dialects, line endings, ragged rows, names, nulls; nothing silently dropped."""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read import peek_columns, tables

Reader = Callable[..., Any]
Rows = Callable[[Any], list[tuple[Any, ...]]]
Records = Callable[[Any], list[dict[str, Any]]]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_and_quoted_newlines(
    read: Reader, rows: Rows, tmp_path: Path, newline: str
) -> None:
    text = newline.join(["id,note", '1,"two\nlines"', "2,plain", '3,"a, b"', ""])
    result = read(write(tmp_path / "notes.csv", text))

    assert rows(result) == [(1, "1", "two\nlines"), (2, "2", "plain"), (3, "3", "a, b")]
    assert result.dialect["newline"] == newline
    assert result.bad == []


def test_crlf_records_with_bare_lf_inside_quotes(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = 'id,who\r\n1,"Ann\n \n Director"\r\n2,"Bo\n \n Owner"\r\n3,Cy'
    result = read(write(tmp_path / "mixed.csv", text))

    assert rows(result) == [
        (1, "1", "Ann\n \n Director"),
        (2, "2", "Bo\n \n Owner"),
        (3, "3", "Cy"),
    ]
    assert result.dialect["newline"] == "\r\n"


def test_ragged_rows_become_bad_records(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = (
        "a,b,c\n"  # line 1
        '1,"multi\nline",x\n'  # record 1, lines 2-3
        "2,short\n"  # record 2, line 4: too few
        "3,y,z\n"  # record 3
        '4,"p\nq",r,extra\n'  # record 4, lines 6-7: too many
        "5,fine,ok\n"  # record 5
    )
    result = read(write(tmp_path / "ragged.csv", text))

    assert [r[:2] for r in rows(result)] == [(1, "1"), (3, "3"), (5, "5")]
    assert [(b.row, b.line, b.reason, b.raw) for b in result.bad] == [
        (2, 4, "expected 3 columns, found 2", "2,short"),
        (4, 6, "expected 3 columns, found 4", '4,"p\nq",r,extra'),
    ]
    assert result.rows + len(result.bad) == 5


def test_ragged_rows_in_crlf_files(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = "a,b\r\n1,2\r\n3\r\n4,5\r\n6,7,8\r\n"
    result = read(write(tmp_path / "ragged.csv", text))

    assert [r[0] for r in rows(result)] == [1, 3]
    assert [(b.row, b.line, b.raw) for b in result.bad] == [(2, 3, "3"), (4, 5, "6,7,8")]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("blank", [False, True], ids=["dense", "with-blank-lines"])
def test_bad_record_lines_in_every_newline_style(
    read: Reader, rows: Rows, tmp_path: Path, newline: str, blank: bool
) -> None:
    gap = newline if blank else ""
    parts = ["a,b", '1,"x\ny"', gap + "2", "3,z", gap + "4,5,6", "7,w", ""]
    result = read(write(tmp_path / "lines.csv", newline.join(parts)))

    inner = 0 if newline == "\r" else 1  # the LF inside quotes breaks a line, but not in CR files
    shift = 1 if blank else 0
    assert [r[0] for r in rows(result)] == [1, 3, 5]
    assert [(b.row, b.line, b.raw) for b in result.bad] == [
        (2, 3 + inner + shift, "2"),
        (4, 5 + inner + 2 * shift, "4,5,6"),
    ]


def test_a_small_ragged_file_keeps_its_delimiter(read: Reader, rows: Rows, tmp_path: Path) -> None:
    """DuckDB's plain sniffer reads this as one column and keeps 1 row of 5."""
    text = "a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n"
    result = read(write(tmp_path / "ragged.csv", text))

    assert result.dialect["delimiter"] == ","
    assert result.columns == ["a", "b", "c"]
    assert [r[0] for r in rows(result)] == [1, 3]
    assert [b.row for b in result.bad] == [2, 4]


def test_trailing_empty_fields_are_dropped_not_rejected(
    read: Reader, rows: Rows, tmp_path: Path
) -> None:
    """DuckDB drops extra fields when all are empty: no value is lost, so the row is good."""
    text = 'a,b\n1,2,\n3,4,,""\n5,6,,x\n'
    result = read(write(tmp_path / "trailing.csv", text))

    assert rows(result) == [(1, "1", "2"), (2, "3", "4")]
    assert [(b.row, b.reason) for b in result.bad] == [(3, "expected 2 columns, found 4")]


def test_blank_lines_are_not_records(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = 'a,b\n1,2\n\n"x\n\ny",3\n\n\nbad\n4,5\n\n'
    result = read(write(tmp_path / "blank.csv", text))

    assert rows(result) == [(1, "1", "2"), (2, "x\n\ny", "3"), (4, "4", "5")]
    assert [(b.row, b.line, b.raw) for b in result.bad] == [(3, 9, "bad")]


def test_unterminated_quote_is_one_bad_record(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = 'a,b\n1,2\n3,"open\n4,5\n'
    result = read(write(tmp_path / "open.csv", text))

    assert rows(result) == [(1, "1", "2")]
    assert [(b.row, b.line) for b in result.bad] == [(2, 3)]
    assert "quoted field is not closed" in result.bad[0].reason


def test_many_bad_rows_number_by_join(
    read: Reader, rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["k,v"] + [f"{i}" if i % 3 == 0 else f"{i},v" for i in range(1, 301)]
    path = write(tmp_path / "many.csv", "\n".join(lines) + "\n")
    by_ranges = [r[:2] for r in rows(read(path))]

    monkeypatch.setattr(tables, "MAX_RANGE_UPDATES", 4)
    result = read(path)

    assert [r[:2] for r in rows(result)] == by_ranges
    assert by_ranges == [(i, str(i)) for i in range(1, 301) if i % 3]
    assert [b.row for b in result.bad] == list(range(3, 301, 3))


def test_blank_and_duplicate_headers(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = "id,,Name,name,,id,_row,column_2\n" + ",".join("abcdefgh") + "\n"
    result = read(write(tmp_path / "names.csv", text))

    assert result.columns == [
        "id",
        "column_2",
        "Name",
        "name_2",
        "column_5",
        "id_2",
        "_row_2",
        "column_2_2",
    ]
    assert rows(result) == [(1, *"abcdefgh")]


def test_trailing_delimiter_on_the_header_only(read: Reader, rows: Rows, tmp_path: Path) -> None:
    result = read(write(tmp_path / "header.csv", "a,b,c,\n1,2,3\n4,5,6,\n7,8\n"))

    assert result.columns == ["a", "b", "c"]
    assert rows(result) == [(1, "1", "2", "3"), (2, "4", "5", "6")]
    assert [b.row for b in result.bad] == [3]


def test_no_header(read: Reader, records: Records, tmp_path: Path) -> None:
    result = read(write(tmp_path / "bare.csv", "1,2\n3,4\n"), header=False)

    assert result.columns == ["column_1", "column_2"]
    assert records(result) == [
        {"column_1": "1", "column_2": "2"},
        {"column_1": "3", "column_2": "4"},
    ]
    assert result.dialect["header"] == "false"


def test_skip_rows(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = "Report of 2024\n\nexported by X\nid,v\n1,a\n2\n3,c\n"
    result = read(write(tmp_path / "report.csv", text), skip_rows=3)

    assert result.columns == ["id", "v"]
    assert rows(result) == [(1, "1", "a"), (3, "3", "c")]
    assert [(b.row, b.line) for b in result.bad] == [(2, 6)]


def test_values_stay_text(read: Reader, records: Records, tmp_path: Path) -> None:
    text = "zip,amount,day,flag\n01234,1.50,2024-01-02,true\n"
    result = read(write(tmp_path / "typed.csv", text))

    assert records(result) == [
        {"zip": "01234", "amount": "1.50", "day": "2024-01-02", "flag": "true"}
    ]


@pytest.mark.parametrize(
    ("null", "expected"),
    [
        ([""], [("1", None, None), ("NA", "x", None)]),
        ([], [("1", "", ""), ("NA", "x", "")]),
        (["", "NA"], [("1", None, None), (None, "x", None)]),
    ],
)
def test_null_option(
    read: Reader, rows: Rows, tmp_path: Path, null: list[str], expected: list[tuple[Any, ...]]
) -> None:
    text = 'a,b,c\n1,,""\nNA,x,\n'
    result = read(write(tmp_path / "nulls.csv", text), null=null)

    assert [r[1:] for r in rows(result)] == expected


@pytest.mark.parametrize(
    ("name", "fmt", "text", "delimiter"),
    [
        ("data.tsv", "auto", "a\tb\n1\t2,3\n", "\t"),
        ("data.txt", "tsv", "a\tb\n1\t2,3\n", "\t"),
        ("data.csv", "auto", "a;b\n1;2,3\n", ";"),
        ("data.csv", "auto", "a|b\n1|2,3\n", "|"),
    ],
)
def test_other_delimiters(
    read: Reader, records: Records, tmp_path: Path, name: str, fmt: str, text: str, delimiter: str
) -> None:
    result = read(write(tmp_path / name, text), fmt=fmt)

    assert result.dialect["delimiter"] == delimiter
    assert records(result) == [{"a": "1", "b": "2,3"}]


def test_explicit_dialect(read: Reader, records: Records, tmp_path: Path) -> None:
    text = "a;b\n'x;y';'it\\'s'\n"
    result = read(write(tmp_path / "odd.csv", text), delimiter=";", quote="'", escape="\\")

    assert records(result) == [{"a": "x;y", "b": "it's"}]
    assert result.dialect == {
        "delimiter": ";",
        "quote": "'",
        "escape": "\\",
        "newline": "\n",
        "header": "true",
    }


def test_gzip(read: Reader, records: Records, tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n3\n"))
    result = read(path)

    assert result.format == "csv"
    assert records(result) == [{"a": "1", "b": "2"}]
    assert [(b.row, b.line) for b in result.bad] == [(2, 3)]


@pytest.mark.parametrize("text", ["", "\n\n", "a,b,c\n", "a,b\r\n\r\n"])
def test_no_records_is_an_empty_file(read: Reader, tmp_path: Path, text: str) -> None:
    with pytest.raises(EmptyFileError):
        read(write(tmp_path / "empty.csv", text))


def test_multi_character_delimiter_is_refused(read: Reader, tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="one character"):
        read(write(tmp_path / "a.csv", "a::b\n1::2\n"), delimiter="::")


# --------------------------------------------------------------------------- against Python's csv


def random_csv(seed: int, records: int) -> str:
    """Quoted delimiters, quotes and newlines, ragged rows and blank lines, in CRLF or LF."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"]))
    writer.writerow(["id", "text", "more"])
    for i in range(records):
        roll = rng.random()
        width = 2 if roll < 0.02 else 4 if roll < 0.04 else 3
        pieces = ["a", "b,c", 'say "hi"', "line\nbreak", "", "x\r\ny"]
        writer.writerow([str(i), *(rng.choice(pieces) for _ in range(width - 1))])
        if rng.random() < 0.01:
            out.write(writer.dialect.lineterminator)
    return out.getvalue()


def reference(text: str) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """(ordinal, fields) of good records and ordinals of bad ones, by Python's csv.

    Extra fields that are all empty (trailing delimiters) are dropped, as DuckDB does.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    good: list[tuple[int, list[str]]] = []
    bad: list[int] = []
    ordinal = 0
    for record in reader:
        if not record:
            continue
        ordinal += 1
        if len(record) >= 3 and not any(record[3:]):
            good.append((ordinal, record[:3]))
        else:
            bad.append(ordinal)
    return good, bad


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_python_csv(read: Reader, rows: Rows, tmp_path: Path, seed: int) -> None:
    text = random_csv(seed, 3000)
    good, bad = reference(text)

    result = read(write(tmp_path / "random.csv", text), null=[])

    assert [b.row for b in result.bad] == bad
    assert [(r[0], list(r[1:])) for r in rows(result)] == good


@pytest.mark.slow
def test_agrees_with_python_csv_when_read_in_parallel(
    read: Reader, rows: Rows, tmp_path: Path
) -> None:
    """Big enough (~22 MB) that DuckDB splits it between threads: its parallel reader
    takes a CSV in ranges of 8 MB, each started at a line boundary it has to find."""
    text = random_csv(7, 1_000_000)
    good, bad = reference(text)

    result = read(write(tmp_path / "big.csv", text), null=[])

    assert [b.row for b in result.bad] == bad
    got = rows(result)
    assert len(got) == len(good)
    assert [r[0] for r in got] == [ordinal for ordinal, _ in good]
    assert all(
        list(r[1:]) == fields for r, (_, fields) in zip(got[::997], good[::997], strict=True)
    )


def test_peek_columns(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes("Straße;;Straße\n1;2;3\n".encode("cp1252"))

    assert peek_columns(path, ReadOptions()) == ["Straße", "column_2", "Straße_2"]
    assert peek_columns(path, ReadOptions(header=False)) == ["column_1", "column_2", "column_3"]
