"""Encodings: detected, transcoded to UTF-8, and every character back exactly."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tidegate.errors import ReadError
from tidegate.read.encoding import CHUNK

WESTERN = (
    "name,city,note\n"
    "José Peña,São Paulo,naïve café\n"
    "Jürgen Müller,Zürich,Straße 5 · Köln\n"
    "Ñandú,España,¿qué? ¡sí!\n"
)
WINDOWS = WESTERN + "Zoë,Málaga,“smart quotes” cost 5 € — ‘ok’\n"
UNICODE = WINDOWS + "Łukasz,Łódź,日本語 ✓ 🎉\n"

Reader = Callable[..., Any]
Rows = Callable[[Any], list[tuple[Any, ...]]]
Records = Callable[[Any], list[dict[str, Any]]]


def expected(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]


@pytest.mark.parametrize(
    ("encoding", "bom", "text", "reported"),
    [
        ("utf-8", b"", UNICODE, "utf-8"),
        ("utf-8", codecs.BOM_UTF8, UNICODE, "utf-8-sig"),
        ("utf-16-le", codecs.BOM_UTF16_LE, UNICODE, "utf-16-le"),
        ("utf-16-be", codecs.BOM_UTF16_BE, UNICODE, "utf-16-be"),
        ("cp1252", b"", WINDOWS, "cp1252"),
        # Latin-1 text is Windows-1252 text: every character maps to the same byte.
        ("latin-1", b"", WESTERN, "cp1252"),
    ],
)
def test_round_trip(
    read: Reader,
    records: Records,
    rows: Rows,
    tmp_path: Path,
    encoding: str,
    bom: bytes,
    text: str,
    reported: str,
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(bom + text.encode(encoding))

    result = read(path)

    assert result.encoding == reported
    assert result.columns == ["name", "city", "note"]  # no byte-order mark in the first name
    assert records(result) == expected(text)
    assert result.bad == []


def test_explicit_encoding(read: Reader, records: Records, rows: Rows, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\nÿ,ñ\n".encode("latin-1"))

    result = read(path, encoding="latin-1")

    assert result.encoding == "iso8859-1"
    assert records(result) == [{"a": "ÿ", "b": "ñ"}]


def test_explicit_utf16_follows_its_mark(
    read: Reader, records: Records, rows: Rows, tmp_path: Path
) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(codecs.BOM_UTF16_BE + "a,b\n1,é\n".encode("utf-16-be"))

    result = read(path, encoding="utf-16")

    assert result.encoding == "utf-16-be"
    assert records(result) == [{"a": "1", "b": "é"}]


def test_legacy_bytes_after_a_long_ascii_start(
    read: Reader, records: Records, rows: Rows, tmp_path: Path
) -> None:
    """The sample looks like UTF-8; DuckDB meets a Windows-1252 byte far into the file."""
    ascii_rows = "".join(f"{i},plain text row {i}\n" for i in range(150_000))
    text = "id,value\n" + ascii_rows + "150000,“quoted” café for 5 €\n"
    path = tmp_path / "late.csv"
    path.write_bytes(text.encode("cp1252"))

    result = read(path)

    assert result.encoding == "cp1252"
    assert result.bad == []
    assert result.rows == 150_001
    assert rows(result)[-1] == (150_001, "150000", "“quoted” café for 5 €")


def test_wrong_explicit_encoding_gives_bad_records(
    read: Reader, records: Records, rows: Rows, tmp_path: Path
) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\n1,x\n2,caf\xe9\n3,y\n".encode("latin-1"))

    result = read(path, encoding="utf-8")

    assert [r[0] for r in rows(result)] == [1, 3]
    assert [(b.row, b.line) for b in result.bad] == [(2, 3)]
    assert "not valid UTF-8" in result.bad[0].reason


def test_transcoding_streams_across_chunks(
    read: Reader, records: Records, rows: Rows, tmp_path: Path
) -> None:
    """UTF-16 with surrogate pairs split at every possible chunk boundary."""
    lines = [f"{i},{'🎉é' * (i % 7)}x" for i in range(3 * CHUNK // 40)]
    text = "n,s\n" + "\n".join(lines) + "\n"
    path = tmp_path / "wide.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert path.stat().st_size > 2 * CHUNK

    result = read(path)

    assert result.rows == len(lines)
    got = rows(result)
    assert [(r[1], r[2]) for r in got] == [tuple(line.split(",")) for line in lines]


def test_unknown_encoding_is_a_read_error(
    read: Reader, records: Records, rows: Rows, tmp_path: Path
) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")

    with pytest.raises(ReadError, match="unknown encoding 'klingon'"):
        read(path, encoding="klingon")
