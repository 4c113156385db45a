"""One set of adapter tests, run against every warehouse that can run here.

DuckDB and SQLite are files in the test's folder; PostgreSQL is a fresh database on the
session's server (``postgres_db_url`` in tests/conftest.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from tidegate.errors import TransientWarehouseError, WarehouseError
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse

from ..conftest import SERVED_WAREHOUSES
from .conftest import make_warehouse

CORE = "core"

TYPES = {
    "name": "varchar",
    "n": "integer",
    "big": "bigint",
    "amount": "decimal(10,2)",
    "score": "double",
    "flag": "boolean",
    "day": "date",
    "at": "timestamp",
    "doc": "json",
}
ARROW = pa.schema(
    [
        ("name", pa.string()),
        ("n", pa.int32()),
        ("big", pa.int64()),
        ("amount", pa.decimal128(10, 2)),
        ("score", pa.float64()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us")),
        ("doc", pa.string()),
    ]
)
ROWS: list[dict[str, Any]] = [
    {
        "name": "Zoë Ångström",
        "n": 1,
        "big": 2**62,
        "amount": Decimal("12.34"),
        "score": 0.1,
        "flag": True,
        "day": date(2024, 2, 29),
        "at": datetime(2024, 1, 2, 3, 4, 5, 123456),
        "doc": '{"a": [1, 2], "b": "ü"}',
    },
    {
        "name": "",
        "n": 2,
        "big": -(2**62),
        "amount": Decimal("-99999999.99"),
        "score": -1.5e300,
        "flag": False,
        "day": date(1970, 1, 1),
        "at": datetime(1999, 12, 31, 23, 59, 59),
        "doc": "[]",
    },
    {"n": 3},
    {
        "name": 'line\nbreak, "quoted"; 日本語',
        "n": 4,
        "big": 0,
        "amount": Decimal("0.00"),
        "score": 2.5,
        "flag": True,
        "day": date(9999, 12, 31),
        "at": datetime(1900, 1, 1),
        "doc": "null",
    },
]


@pytest.fixture
def wh(wh: Warehouse) -> Warehouse:
    """The folder's warehouse (tests/warehouse/conftest.py), with its core schema."""
    wh.ensure_schema(CORE)
    return wh


def every_type_table(wh: Warehouse, name: str = "every_type") -> None:
    wh.ensure_table(name, CORE, [(c, data_type(t)) for c, t in TYPES.items()])


def reader(rows: list[dict[str, Any]], *, batch: int = 2) -> pa.RecordBatchReader:
    full = pa.Table.from_pylist(rows, schema=ARROW)
    batches = [*full.to_batches(max_chunksize=batch), full.slice(0, 0).to_batches()]
    flat = [b for b in batches if isinstance(b, pa.RecordBatch)]
    return pa.RecordBatchReader.from_batches(ARROW, flat)


def read_back(wh: Warehouse, name: str = "every_type") -> list[dict[str, Any]]:
    query = exp.select(*[col(c) for c in TYPES]).from_(table(name, CORE)).order_by(col("n"))
    return [normal(dict(zip(TYPES, row, strict=True))) for row in wh.execute(query)]


def normal(row: dict[str, Any]) -> dict[str, Any]:
    """JSON compared as values: warehouses may re-space a document."""
    doc = row.get("doc")
    return {**row, "doc": json.loads(doc) if isinstance(doc, str) else doc}


def expected(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [normal({name: row.get(name) for name in TYPES}) for row in rows]


# --------------------------------------------------------------------------- tables


def test_schemas_tables_and_columns(wh: Warehouse) -> None:
    wh.ensure_schema(CORE)  # again: idempotent
    assert wh.columns_of("people", CORE) is None
    columns = [("id", data_type("integer")), ("name", data_type("varchar"))]
    assert wh.ensure_table("people", CORE, columns) == []
    assert list(wh.columns_of("people", CORE) or {}) == ["id", "name"]

    more = [*columns, ("email", data_type("varchar")), ("Born On", data_type("date"))]
    assert wh.ensure_table("people", CORE, more) == ["email", "Born On"]
    assert wh.ensure_table("people", CORE, more) == []
    wh.add_column("people", CORE, "score", data_type("double"))
    assert list(wh.columns_of("people", CORE) or {}) == ["id", "name", "email", "Born On", "score"]
    assert wh.count("people", CORE) == 0


def test_every_type_round_trips(wh: Warehouse) -> None:
    every_type_table(wh)
    assert wh.write_arrow("every_type", CORE, reader(ROWS)) == len(ROWS)
    assert read_back(wh) == expected(ROWS)


def test_null_and_empty_string_stay_apart(wh: Warehouse) -> None:
    every_type_table(wh)
    wh.write_arrow("every_type", CORE, reader(ROWS))
    assert wh.count("every_type", CORE, col("name").eq(lit(""))) == 1
    assert wh.count("every_type", CORE, col("name").is_(lit(None))) == 1


def test_write_arrow_matches_columns_by_name(wh: Warehouse) -> None:
    every_type_table(wh)
    schema = pa.schema([("flag", pa.bool_()), ("n", pa.int32()), ("name", pa.string())])
    batch = pa.RecordBatch.from_pylist([{"flag": True, "n": 7, "name": "x"}], schema=schema)
    written = wh.write_arrow("every_type", CORE, pa.RecordBatchReader.from_batches(schema, [batch]))
    assert written == 1
    assert read_back(wh) == expected([{"flag": True, "n": 7, "name": "x"}])


def test_write_arrow_of_nothing(wh: Warehouse) -> None:
    every_type_table(wh)
    assert wh.write_arrow("every_type", CORE, pa.RecordBatchReader.from_batches(ARROW, [])) == 0
    assert wh.count("every_type", CORE) == 0


def test_write_arrow_streams_many_batches(wh: Warehouse) -> None:
    every_type_table(wh)
    rows = [{**ROWS[0], "n": i} for i in range(5_000)]
    assert wh.write_arrow("every_type", CORE, reader(rows, batch=700)) == 5_000
    assert wh.count("every_type", CORE) == 5_000


def test_count_with_a_condition(wh: Warehouse) -> None:
    every_type_table(wh)
    wh.write_arrow("every_type", CORE, reader(ROWS))
    assert wh.count("every_type", CORE) == 4
    assert wh.count("every_type", CORE, col("flag").eq(lit(True))) == 2


# --------------------------------------------------------------------------- transactions


def test_a_transaction_commits(wh: Warehouse) -> None:
    every_type_table(wh)
    with wh.transaction():
        wh.write_arrow("every_type", CORE, reader(ROWS))
    assert wh.count("every_type", CORE) == len(ROWS)


def test_an_error_rolls_back_rows_ledger_and_ddl(wh: Warehouse) -> None:
    every_type_table(wh)
    ledger.ensure(wh)
    with pytest.raises(RuntimeError, match="boom"), wh.transaction():
        wh.write_arrow("every_type", CORE, reader(ROWS))
        ledger.insert_file(wh, file_record("a" * 64))
        wh.ensure_table("created_inside", CORE, [("x", data_type("integer"))])
        raise RuntimeError("boom")
    assert wh.count("every_type", CORE) == 0
    assert ledger.files_with_hash(wh, "a" * 64) == []
    assert wh.columns_of("created_inside", CORE) is None


def test_a_failing_statement_rolls_back_the_transaction(wh: Warehouse) -> None:
    every_type_table(wh)
    with pytest.raises(WarehouseError), wh.transaction():
        wh.write_arrow("every_type", CORE, reader(ROWS))
        wh.execute(exp.select(col("n")).from_(table("no_such_table", CORE)))
    assert wh.count("every_type", CORE) == 0


# --------------------------------------------------------------------------- ledger


def file_record(sha: str, **changes: Any) -> ledger.FileRecord:
    record = ledger.FileRecord(
        file_id=sha[:16],
        run_id="run-1",
        source="people",
        name="people.csv",
        path="landing/people.csv",
        size=123,
        sha256=sha,
        status="loaded",
        started_at=datetime(2024, 5, 6, 7, 8, 9, 123456),
        finished_at=datetime(2024, 5, 6, 7, 8, 10),
        rows_read=10,
        rows_loaded=9,
        rows_quarantined=1,
        error=None,
        encoding="utf-8",
    )
    return replace(record, **changes)


def test_ledger_records_and_finds_files(wh: Warehouse) -> None:
    ledger.ensure(wh)
    ledger.ensure(wh)  # idempotent
    first = file_record("b" * 64)
    ledger.insert_file(wh, first)
    second = file_record("b" * 64, file_id=ledger.next_file_id(wh, "b" * 64), status="duplicate")
    ledger.insert_file(wh, second)

    assert second.file_id == "b" * 16 + "-2"
    assert ledger.files_with_hash(wh, "b" * 64) == [first, second]
    assert ledger.loaded_file(wh, "b" * 64) == first
    assert ledger.files_with_hash(wh, "c" * 64) == []

    ledger.update(wh, ledger.FILES, ("file_id", first.file_id), {"archive_path": "archive/x.gz"})
    assert ledger.list_files(wh, status="loaded")[0].archive_path == "archive/x.gz"
    assert wh.count(ledger.FILES, wh.schemas.meta) == 2


def test_ledger_runs_and_quarantine(wh: Warehouse) -> None:
    ledger.ensure(wh)
    run = ledger.RunRecord(run_id="run-1", started_at=datetime(2024, 1, 1, 12), version="0.1")
    ledger.insert_run(wh, run)
    assert ledger.list_runs(wh) == [run]
    bad = ledger.QuarantineRecord(
        file_id="f1",
        source="people",
        target="people",
        row=3,
        reasons=json.dumps([{"rule": "required", "column": "name"}]),
        record=json.dumps({"Name": "Zoë"}, ensure_ascii=False),
        quarantined_at=datetime(2024, 1, 1, 12, 0, 1),
    )
    ledger.insert_quarantine(wh, [bad, replace(bad, row=4)])
    assert wh.count(ledger.QUARANTINE, wh.schemas.meta) == 2


# --------------------------------------------------------------------------- retries


def test_retry_runs_the_work_again_after_a_transient_error(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(type(wh), "RETRY_DELAY_SECONDS", 0.0)
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientWarehouseError("serialization failure")
        return "done"

    assert wh.retry(work) == "done"
    assert len(calls) == 3


def test_retry_gives_up_after_its_attempts(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(wh), "RETRY_DELAY_SECONDS", 0.0)
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise TransientWarehouseError("still failing")

    with pytest.raises(TransientWarehouseError):
        wh.retry(work, attempts=2)
    assert len(calls) == 2


def test_retry_does_not_repeat_other_errors(wh: Warehouse) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise WarehouseError("a real problem")

    with pytest.raises(WarehouseError):
        wh.retry(work)
    assert len(calls) == 1


# --------------------------------------------------------------------------- locks


def test_a_lock_can_be_taken_again_by_its_holder_and_released(wh: Warehouse) -> None:
    assert wh.lock("f" * 64)
    assert wh.lock("f" * 64)
    wh.unlock("f" * 64)
    wh.unlock("f" * 64)  # releasing what is not held is harmless
    assert wh.lock("f" * 64)
    wh.unlock("f" * 64)


@pytest.mark.parametrize("kind", SERVED_WAREHOUSES)
def test_a_lock_excludes_another_connection(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = make_warehouse(kind, tmp_path, request)
    second = make_warehouse(kind, tmp_path, request)
    with first, second:
        assert first.lock("e" * 64)
        assert not second.lock("e" * 64)
        assert second.lock("d" * 64)  # other keys are free
        first.unlock("e" * 64)
        assert second.lock("e" * 64)
        assert not first.lock("e" * 64)
    with make_warehouse(kind, tmp_path, request) as third:
        assert third.lock("e" * 64)  # closing a connection released its locks
