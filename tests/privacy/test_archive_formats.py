"""The archive rewriters, bytes in and bytes out: only the picked records change; every
other record keeps its bytes where the format allows, the encoding and codec are kept."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from tidegate.privacy.archives import rewrite_bytes


def delete(record: Any) -> Any:
    return {}


def anonymise(record: Any) -> Any:
    return {k: (None if k == "email" else v) for k, v in record.items()}


def second(number: int, _record: Any) -> bool:
    return number == 2


def test_a_json_array_keeps_its_layout_around_the_rewritten_element() -> None:
    text = '[\n  {"id": "1",  "email": "a@x"},\n  {"id": "2", "email": "b@x"},\n  {"id":"3"}\n]\n'
    out = rewrite_bytes(text.encode(), "json", "utf-8", second, anonymise)
    assert out == (
        b'[\n  {"id": "1",  "email": "a@x"},\n  {"id": "2", "email": null},\n  {"id":"3"}\n]\n'
    )


def test_csv_keeps_the_other_records_quoting_and_line_endings() -> None:
    text = 'id,email\r\n"1","a@x"\r\n2,b@x\r\n"3","c@x"\r\n'
    out = rewrite_bytes(text.encode(), "csv", "utf-8", second, anonymise)
    assert out == b'id,email\r\n"1","a@x"\r\n2,\r\n"3","c@x"\r\n'


def test_utf16_with_its_bom_stays_utf16() -> None:
    text = "id,email\nÜ1,ü@x\nÜ2,ö@x\n"
    data = text.encode("utf-16")
    out = rewrite_bytes(data, "csv", "utf-16", second, anonymise)
    assert out is not None and out[:2] == data[:2]
    assert out.decode("utf-16") == "id,email\nÜ1,ü@x\nÜ2,\n"
    assert "ö@x".encode("utf-16-le") not in out


def test_json_lines_in_latin1() -> None:
    data = '{"id": "é1", "email": "à@x"}\n{"id": "é2", "email": "ç@x"}\n'.encode("latin-1")
    out = rewrite_bytes(data, "jsonl", "latin-1", second, delete)
    assert out == '{"id": "é1", "email": "à@x"}\n{}\n'.encode("latin-1")


def test_parquet_rows_keep_their_positions_schema_and_codec() -> None:
    table = pa.table({"id": ["1", "2", "3"], "email": ["a@x", "b@x", "c@x"]})
    source = io.BytesIO()
    pq.write_table(table, source, compression="zstd")
    out = rewrite_bytes(source.getvalue(), "parquet", None, second, anonymise)
    assert out is not None and b"b@x" not in out
    rewritten = pq.ParquetFile(io.BytesIO(out))
    assert rewritten.read().to_pydict() == {"id": ["1", "2", "3"], "email": ["a@x", None, "c@x"]}
    assert rewritten.metadata.row_group(0).column(0).compression == "ZSTD"
    deleted = rewrite_bytes(source.getvalue(), "parquet", None, second, delete)
    assert deleted is not None
    assert pq.read_table(io.BytesIO(deleted)).to_pydict()["id"] == ["1", None, "3"]


def test_an_excel_rows_cells_are_emptied_the_rest_kept() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["id", "email"], ["1", "a@x"], ["2", "b@x"]):
        sheet.append(row)
    sheet["D1"] = "=1+1"
    source = io.BytesIO()
    book.save(source)
    out = rewrite_bytes(source.getvalue(), "xlsx", None, second, anonymise)
    assert out is not None
    again = openpyxl.load_workbook(io.BytesIO(out)).active
    assert again is not None
    assert [[c.value for c in row] for row in again.iter_rows()] == [
        ["id", "email", None, "=1+1"],
        ["1", "a@x", None, None],
        ["2", None, None, None],
    ]


def test_a_format_that_cannot_be_written_back_says_so() -> None:
    assert rewrite_bytes(b"\xd0\xcf\x11\xe0legacy", "xlsx", None, second, delete) is None
    assert rewrite_bytes(b"PK\x03\x04", "zip", None, second, delete) is None
