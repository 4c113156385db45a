"""What only SQLite does: a file per schema, rollback journals, busy errors, file locks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from tidegate.config.models import WarehouseConfig
from tidegate.errors import TransientWarehouseError, WarehouseError
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse import sqlite as sqlite_adapter
from tidegate.warehouse.dbapi import insert_statement
from tidegate.warehouse.sqlite import SQLiteWarehouse

CORE = "core"


def open_sqlite(root: Path, **config: str) -> SQLiteWarehouse:
    return SQLiteWarehouse(WarehouseConfig(type="sqlite", **config), root)  # type: ignore[arg-type]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[SQLiteWarehouse]:
    with open_sqlite(tmp_path, path="dw.sqlite") as warehouse:
        yield warehouse


def test_each_schema_is_a_file_beside_the_database(wh: SQLiteWarehouse, tmp_path: Path) -> None:
    wh.ensure_schema("extra")
    wh.ensure_table("t", "extra", [("n", data_type("integer"))])
    names = {p.name for p in tmp_path.iterdir()}
    assert {"dw.sqlite", "dw.core.sqlite", "dw.tidegate.sqlite", "dw.extra.sqlite"} <= names
    wh.close()
    with open_sqlite(tmp_path, path="dw.sqlite") as again:  # found and attached on connect
        assert again.columns_of("t", "extra") == {"n": "INT"}


def test_the_default_file_is_warehouse_sqlite(tmp_path: Path) -> None:
    assert open_sqlite(tmp_path).file == tmp_path / "warehouse.sqlite"


def test_every_file_keeps_a_rollback_journal(wh: SQLiteWarehouse) -> None:
    for schema in ("main", CORE, wh.schemas.meta):
        mode = exp.Pragma(this=exp.Dot(this=exp.to_identifier(schema), expression="journal_mode"))
        assert wh.scalar(mode) == "delete"


def test_declared_types_name_the_target_types(wh: SQLiteWarehouse) -> None:
    kinds = ["varchar", "integer", "decimal(10,2)", "double", "boolean", "date", "timestamp"]
    wh.ensure_table("t", CORE, [(f"c{i}", data_type(k)) for i, k in enumerate([*kinds, "json"])])
    declared = list((wh.columns_of("t", CORE) or {}).values())
    assert declared == [
        *["TEXT", "INT", "DECIMAL(10, 2)", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP"],
        "TEXT",  # JSON: TEXT affinity keeps the document as written
    ]


def test_a_json_document_that_looks_like_a_number_stays_text(wh: SQLiteWarehouse) -> None:
    wh.ensure_table("docs", CORE, [("doc", data_type("json"))])
    wh.execute(exp.insert(exp.values([(lit("1.50"),)]), table("docs", CORE)))
    assert wh.scalar(exp.select(col("doc")).from_(table("docs", CORE))) == "1.50"


def test_a_schema_cannot_be_attached_inside_a_transaction(wh: SQLiteWarehouse) -> None:
    with pytest.raises(WarehouseError, match=r"warehouse\.schemas"), wh.transaction():
        wh.ensure_schema("late")


def test_a_schema_name_must_be_plain(wh: SQLiteWarehouse) -> None:
    with pytest.raises(WarehouseError, match="letters, digits"):
        wh.ensure_schema("../escape")


def test_a_busy_database_is_transient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wh: SQLiteWarehouse
) -> None:
    monkeypatch.setattr(sqlite_adapter, "BUSY_TIMEOUT_SECONDS", 0.05)
    wh.ensure_table("t", CORE, [("n", data_type("integer"))])
    insert = exp.insert(exp.values([(lit(1),)]), table("t", CORE))
    with open_sqlite(tmp_path, path="dw.sqlite") as other, wh.transaction():
        wh.execute(insert)
        with pytest.raises(TransientWarehouseError, match="locked"):
            other.execute(insert)


def test_ensure_index_names_the_schema_on_the_index(wh: SQLiteWarehouse) -> None:
    wh.ensure_table("t", CORE, [("a", data_type("integer"))])
    wh.ensure_index("t", CORE, "t_a", ["a"])
    wh.ensure_index("t", CORE, "t_a", ["a"])
    index_list = exp.Anonymous(this="pragma_index_list", expressions=[lit("t"), lit(CORE)])
    names = wh.execute(exp.select(col("name")).from_(exp.Table(this=index_list)))
    assert names == [("t_a",)]


def test_the_insert_statement() -> None:
    sql = insert_statement(table("t", "s"), ["a", "b c"]).sql("sqlite")
    assert sql == 'INSERT INTO "s"."t" ("a", "b c") VALUES (?, ?)'


HOLD_LOCK = """
import sys, time
from datetime import datetime
from pathlib import Path
from tidegate.config.models import WarehouseConfig
from tidegate.warehouse.sqlite import SQLiteWarehouse
wh = SQLiteWarehouse(WarehouseConfig(type="sqlite", path="dw.sqlite"), Path(sys.argv[1]))
wh.connect()
assert wh.lock("k" * 64)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_dead_process_releases_its_locks(tmp_path: Path, wh: SQLiteWarehouse) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD_LOCK), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert not wh.lock("k" * 64)
    finally:
        holder.kill()
        holder.wait()
    assert wh.lock("k" * 64)


def test_bulk_and_literal_timestamps_compare_as_equal_text(wh: SQLiteWarehouse) -> None:
    wh.ensure_table("t", CORE, [("at", data_type("timestamp"))])
    moments = [datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 0, 0, 5), datetime(2024, 1, 1, 1)]
    batch = pa.record_batch({"at": pa.array(moments, pa.timestamp("ns"))})
    wh.write_arrow("t", CORE, pa.RecordBatchReader.from_batches(batch.schema, [batch]))
    for moment in moments:
        assert wh.count("t", CORE, col("at").eq(lit(moment))) == 1
    assert wh.count("t", CORE, exp.GT(this=col("at"), expression=lit(datetime(2024, 1, 1)))) == 2
    ordered = exp.select(col("at")).from_(table("t", CORE)).order_by(col("at"))
    assert [row[0] for row in wh.execute(ordered)] == moments
