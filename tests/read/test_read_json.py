"""JSON documents and JSON Lines: scalars as text, nested values as JSON, bad lines kept."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.config.models import ReadOptions
from tidegate.errors import EmptyFileError, ReadError
from tidegate.read import peek_columns

Reader = Callable[..., Any]
Rows = Callable[[Any], list[tuple[Any, ...]]]
Records = Callable[[Any], list[dict[str, Any]]]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def types(con: duckdb.DuckDBPyConnection, result: Any) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f'DESCRIBE "{result.table}"').fetchall()}


def test_array_of_objects(
    read: Reader, records: Records, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    data = [
        {"id": 1, "name": "Ada", "tags": ["x", "y"], "price": 1.5},
        {"id": 2, "name": None, "ok": True, "address": {"city": "Oslo"}},
        {"id": "003", "tags": [], "price": "2.00"},
    ]
    result = read(write(tmp_path / "people.json", json.dumps(data)))

    assert result.format == "json"
    assert result.columns == ["id", "name", "tags", "price", "ok", "address"]
    assert types(con, result) == {
        "_row": "BIGINT",
        "id": "VARCHAR",
        "name": "VARCHAR",
        "tags": "JSON",
        "price": "VARCHAR",
        "ok": "VARCHAR",
        "address": "JSON",
    }
    assert records(result) == [
        {
            "id": "1",
            "name": "Ada",
            "tags": '["x","y"]',
            "price": "1.5",
            "ok": None,
            "address": None,
        },
        {
            "id": "2",
            "name": None,
            "tags": None,
            "price": None,
            "ok": "true",
            "address": '{"city":"Oslo"}',
        },
        {"id": "003", "name": None, "tags": "[]", "price": "2.00", "ok": None, "address": None},
    ]
    assert result.bad == [] and result.encoding == "utf-8" and result.dialect == {}


def test_nested_values_work_with_json_functions(
    read: Reader, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    data = [{"order": 1, "items": [{"sku": 7, "qty": 2}, {"sku": 8, "qty": 1}]}]
    result = read(write(tmp_path / "orders.json", json.dumps(data)))

    query = (
        "SELECT CAST(i ->> 'sku' AS INTEGER), CAST(i ->> 'qty' AS INTEGER) FROM "
        f'(SELECT unnest(CAST(items AS JSON[])) AS i FROM "{result.table}")'
    )
    assert con.execute(query).fetchall() == [(7, 2), (8, 1)]


def test_single_object(read: Reader, records: Records, tmp_path: Path) -> None:
    text = '{\n  "customer-id": "0123",\n  "email": "a@b.c"\n}\n'
    result = read(write(tmp_path / "request.json", text))

    assert records(result) == [{"customer-id": "0123", "email": "a@b.c"}]


def test_records_path(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = json.dumps({"meta": {"n": 2}, "data": {"items": [{"a": 1}, {"a": 2}]}})
    path = write(tmp_path / "wrapped.json", text)

    result = read(path, records="data.items")

    assert rows(result) == [(1, "1"), (2, "2")]
    assert read(path, records="$.meta").columns == ["n"]
    assert peek_columns(path, ReadOptions(records="data.items")) == ["a"]
    with pytest.raises(ReadError, match=r"nothing at 'data\.missing'"):
        read(path, records="data.missing")


def test_json_lines_with_broken_and_blank_lines(read: Reader, rows: Rows, tmp_path: Path) -> None:
    text = '{"a": 1}\n\n{"a": 2, "b": [1]}\n{"a": 3,\n[1, 2]\n   \n{"b": {"c": 1}}\n'
    result = read(write(tmp_path / "events.jsonl", text))

    assert result.columns == ["a", "b"]
    assert rows(result) == [(1, "1", None), (2, "2", "[1]"), (5, None, '{"c":1}')]
    assert [(b.row, b.line, b.raw) for b in result.bad] == [(3, 4, '{"a": 3,'), (4, 5, "[1, 2]")]
    assert result.bad[0].reason.startswith("not valid JSON")
    assert result.bad[1].reason == "expected a JSON object, found array"


def test_a_line_holding_control_bytes_is_bad_not_lost(
    read: Reader, rows: Rows, tmp_path: Path
) -> None:
    text = '{"a": 1}\n{"a": "\x01\x02\x03\x04"}\n{"a": 3}\n'
    result = read(write(tmp_path / "odd.jsonl", text))

    assert [r[0] for r in rows(result)] == [1, 3]
    assert [(b.row, b.line) for b in result.bad] == [(2, 2)]


@pytest.mark.parametrize("name", ["events.json", "events.ndjson", "events.jsonl", "events.json.gz"])
def test_json_lines_by_name_or_content(read: Reader, rows: Rows, tmp_path: Path, name: str) -> None:
    body = b'{"a": 1}\n{"a": 2}\n'
    path = tmp_path / name
    path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)

    result = read(path)

    assert result.format == "jsonl"
    assert rows(result) == [(1, "1"), (2, "2")]


def test_keys_that_differ_in_case(read: Reader, tmp_path: Path) -> None:
    result = read(write(tmp_path / "case.jsonl", '{"Name": 1, "name": 2, "": 3}\n{"a/b~c": 4}\n'))

    assert result.columns == ["Name", "name_2", "column_3", "a/b~c"]


def test_utf16_json(read: Reader, records: Records, tmp_path: Path) -> None:
    path = tmp_path / "wide.json"
    path.write_bytes('[{"city": "Zürich"}]'.encode("utf-16"))

    result = read(path)

    assert result.encoding in ("utf-16-le", "utf-16-be")
    assert records(result) == [{"city": "Zürich"}]


@pytest.mark.parametrize(("name", "text"), [("a.json", "[]"), ("a.jsonl", "\n\n"), ("b.json", "")])
def test_no_records(read: Reader, tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(EmptyFileError):
        read(write(tmp_path / name, text))


def test_broken_document_is_a_read_error(read: Reader, tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"broken\.json"):
        read(write(tmp_path / "broken.json", '[{"a": 1}, {"a": '))


def test_peek_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"a": 1}\nnot json\n{"b": 2, "a": 3}\n')

    assert peek_columns(path, ReadOptions()) == ["a", "b"]


SMALL_LINES = (
    '{"id": 1, "price": 1.50, "big": 123456789012345678901234, "exp": 1e20, "tiny": 1.5e-7}\n'
    "\n"
    '  {"id": "002", "name": "Zoë \\u00e9 \\u2028", "tags": ["x", {"y": null}], "ok": false}\n'
    '{"Name": "case", "price": -0.0, "nested": {"a": [1, 2.50]}, "id": null, "empty": ""}\n'
    "   \n"
)


@pytest.mark.parametrize("compressed", [False, True])
def test_small_json_lines_read_in_python_give_the_set_wise_table(
    read: Reader,
    rows: Rows,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    compressed: bool,
) -> None:
    """A small file is parsed in Python; the table must equal the one the set-wise path makes."""
    from tidegate.read import json as json_reader

    data = SMALL_LINES.encode("utf-8")
    path = tmp_path / ("small.jsonl.gz" if compressed else "small.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    assert json_reader._whole_lines  # the fast path exists and takes this file:
    fast = read(path)
    fast_rows, fast_types = rows(fast), types(con, fast)

    monkeypatch.setattr(json_reader, "_whole_lines", lambda text: None)
    general = read(path)

    assert fast.columns == general.columns == [
        "id", "price", "big", "exp", "tiny", "name", "tags", "ok", "Name_2", "nested", "empty"
    ]  # fmt: skip
    assert (fast.rows, fast.bad, fast.encoding) == (general.rows, general.bad, general.encoding)
    assert fast_types == types(con, general)
    assert fast_rows == rows(general)
    assert [r[0] for r in fast_rows] == [1, 2, 3]


@pytest.mark.parametrize(
    "line",
    ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": "\\ud800"}', "[1, 2]", "{broken", '"text"'],
)
def test_lines_python_might_judge_differently_take_the_set_wise_path(line: str) -> None:
    from tidegate.read.json import _plain_object

    assert _plain_object(line) is None
