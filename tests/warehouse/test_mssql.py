"""The T-SQL the SQL Server adapter generates.

No SQL Server can run here, so these tests pin the statements' text (and that sqlglot's
T-SQL parser reads each back), not their behaviour on a server.
"""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from tidegate.config.models import WarehouseConfig
from tidegate.errors import ConnectionFailed, TransientWarehouseError, WarehouseError
from tidegate.sql import col, create_table, data_type, insert_values, lit, table
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Row
from tidegate.warehouse.mssql import (
    MSSQLWarehouse,
    endpoint,
    lock_batch,
    odbc_connection_string,
    python_rows,
    release_lock,
    tsql,
)

URL = "mssql://loader:S3cret%3B@sql.example:1433/dw?TrustServerCertificate=yes"


class Recorder(MSSQLWarehouse):
    """The adapter with its driver replaced by a list of the statements it would send."""

    def __init__(self, root: Path) -> None:
        super().__init__(WarehouseConfig(type="mssql", url=URL), root)
        self.sent: list[str] = []

    def connect(self) -> None:
        return None

    def _run(self, sql: str) -> list[Row]:
        self.sent.append(sql)
        return []


@pytest.fixture
def wh(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path)


def parses(sql: str) -> None:
    for statement in sqlglot.parse(sql, read="tsql"):
        assert statement is not None


# --------------------------------------------------------------------------- DDL


def test_types_in_a_new_table() -> None:
    kinds = ["varchar", "integer", "bigint", "decimal(10,2)", "double", "boolean", "date"]
    columns = [(f"c{i}", data_type(k)) for i, k in enumerate([*kinds, "timestamp", "json"])]
    sql = tsql(create_table(table("t", "core"), [("id", data_type("varchar")), *columns], ["id"]))
    assert sql == (
        "IF NOT EXISTS (SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 't'"
        " AND TABLE_SCHEMA = 'core') EXEC('CREATE TABLE [core].[t] ([id] NVARCHAR(450),"
        " [c0] NVARCHAR(MAX), [c1] INTEGER, [c2] BIGINT, [c3] NUMERIC(10, 2), [c4] FLOAT,"
        " [c5] BIT, [c6] DATE, [c7] DATETIME2, [c8] NVARCHAR(MAX), PRIMARY KEY ([id]))')"
    )
    parses(sql)


def test_a_sized_varchar_keeps_its_size() -> None:
    sql = tsql(create_table(table("t"), [("code", exp.DataType.build("varchar(12)"))]))
    assert "[code] NVARCHAR(12)" in sql


def test_an_identity_column() -> None:
    identity = exp.ColumnConstraint(kind=exp.GeneratedAsIdentityColumnConstraint(this=False))
    column = exp.ColumnDef(
        this=exp.to_identifier("id", quoted=True),
        kind=data_type("bigint"),
        constraints=[identity],
    )
    create = exp.Create(
        this=exp.Schema(this=table("t", "core"), expressions=[column]), kind="TABLE"
    )
    assert tsql(create) == "CREATE TABLE [core].[t] ([id] BIGINT IDENTITY(1, 1))"


def test_schema_and_column_statements(wh: Recorder) -> None:
    wh.ensure_schema("core")
    wh.add_column("t", "core", "Notes", data_type("json"))
    assert wh.sent == [
        "IF NOT EXISTS (SELECT * FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = 'core')"
        " EXEC('CREATE SCHEMA [core]')",
        "ALTER TABLE [core].[t] ADD [Notes] NVARCHAR(MAX)",
    ]
    for sql in wh.sent:
        parses(sql)


def test_columns_are_read_from_information_schema_in_capitals(wh: Recorder) -> None:
    assert wh.columns_of("t", "core") is None
    assert wh.sent == [
        "SELECT [COLUMN_NAME], [DATA_TYPE] FROM [INFORMATION_SCHEMA].[COLUMNS]"
        " WHERE [TABLE_SCHEMA] = N'core' AND [TABLE_NAME] = N't' ORDER BY [ORDINAL_POSITION]"
    ]


def test_temporary_tables_are_hash_named(wh: Recorder) -> None:
    assert wh.temp_table("stage").sql("tsql") == "[#stage]"
    temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
    query = exp.select(col("a")).from_(table("t", "core"))
    create = exp.Create(this=wh.temp_table("stage"), kind="TABLE", expression=query)
    create.set("properties", temporary)
    assert tsql(create) == (
        "SELECT * INTO [#stage] FROM (SELECT [a] AS [a] FROM [core].[t]) AS temp"
    )


# --------------------------------------------------------------------------- statements


def test_literals_are_national_and_timestamps_datetime2() -> None:
    row = ["Zoë", datetime(2024, 1, 2, 3, 4, 5, 6), True, None, Decimal("1.20")]
    sql = tsql(insert_values(table("t", "core"), ["s", "at", "ok", "n", "d"], [row]))
    assert sql == (
        "INSERT INTO [core].[t] ([s], [at], [ok], [n], [d]) VALUES"
        " (N'Zoë', CAST(N'2024-01-02 03:04:05.000006' AS DATETIME2), 1, NULL, 1.20)"
    )
    parses(sql)


def test_merge_ends_with_a_semicolon() -> None:
    merge = sqlglot.parse_one(
        'MERGE INTO "core"."t" AS "d" USING "s" ON "d"."k" = "s"."k"'
        ' WHEN MATCHED THEN UPDATE SET "v" = "s"."v"'
        ' WHEN NOT MATCHED THEN INSERT ("k", "v") VALUES ("s"."k", "s"."v")',
        read="postgres",
    )
    sql = tsql(merge)
    assert sql.startswith("MERGE INTO [core].[t] AS [d] USING [s]") and sql.endswith(";")
    parses(sql)


def test_limits_become_top(wh: Recorder) -> None:
    ledger.list_files(wh, limit=5, status="loaded")
    assert wh.sent[0].startswith("SELECT TOP 5 [file_id], [run_id],")
    assert "WHERE [status] = N'loaded' ORDER BY [started_at] DESC" in wh.sent[0]


def test_transactions(wh: Recorder) -> None:
    with pytest.raises(RuntimeError), wh.transaction():
        wh.count("t", "core")
        raise RuntimeError("boom")
    with wh.transaction():
        pass
    assert wh.sent == [
        "BEGIN TRANSACTION",
        "SELECT COUNT(*) FROM [core].[t]",
        "ROLLBACK TRANSACTION",
        "BEGIN TRANSACTION",
        "COMMIT TRANSACTION",
    ]


# --------------------------------------------------------------------------- ledger


def test_ledger_statements(wh: Recorder) -> None:
    ledger.ensure(wh)
    record = ledger.FileRecord(
        file_id="abc",
        run_id="r1",
        source=None,
        name="f.csv",
        path="landing/f.csv",
        size=10,
        sha256="ab" * 32,
        status="loaded",
        started_at=datetime(2024, 1, 2, 3, 4, 5),
    )
    ledger.insert_file(wh, record)
    ledger.files_with_hash(wh, "ab" * 32)
    ledger.update(wh, ledger.FILES, ("file_id", "abc"), {"rows_loaded": 3})

    creates = [s for s in wh.sent if "CREATE TABLE" in s]
    assert "EXEC('CREATE TABLE [tidegate].[files] (" in creates[0]
    assert "[file_id] NVARCHAR(450)" in creates[0] and "[started_at] DATETIME2" in creates[0]
    assert "[run_id] NVARCHAR(450)" in creates[1] and "PRIMARY KEY ([run_id])" in creates[1]
    insert = next(s for s in wh.sent if s.startswith("INSERT"))
    assert insert.startswith("INSERT INTO [tidegate].[files] ([file_id], [run_id], [source]")
    assert "VALUES (N'abc', N'r1', NULL, N'f.csv'" in insert
    assert "CAST(N'2024-01-02 03:04:05' AS DATETIME2)" in insert
    assert wh.sent[-1] == (
        "UPDATE [tidegate].[files] SET [rows_loaded] = 3 WHERE [file_id] = N'abc'"
    )
    for sql in wh.sent:
        parses(sql)


# --------------------------------------------------------------------------- locks


def test_session_application_locks() -> None:
    batch = "; ".join(tsql(s) for s in lock_batch("f" * 64))
    assert batch == (
        "DECLARE @status INTEGER; "
        f"EXECUTE @status = sp_getapplock @Resource = N'tidegate:{'f' * 64}',"
        " @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = 0; "
        "SELECT @status"
    )
    assert tsql(release_lock("k")) == (
        "EXECUTE sp_releaseapplock @Resource = N'tidegate:k', @LockOwner = N'Session'"
    )
    parses(batch)


# --------------------------------------------------------------------------- connecting


def test_connection_strings() -> None:
    assert odbc_connection_string(URL) == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql.example,1433;DATABASE=dw;"
        "UID=loader;PWD={S3cret;};TrustServerCertificate=yes"
    )
    given = "DRIVER={FreeTDS};SERVER=h,1444;DATABASE=d;UID=u;PWD=p"
    assert odbc_connection_string(given) == given
    assert str(endpoint(URL)) == "mssql://loader@sql.example:1433/dw"
    assert str(endpoint(given)) == "mssql://u@h:1444/d"
    with pytest.raises(WarehouseError, match="mssql://"):
        odbc_connection_string("postgres://h/d")


def test_description_never_has_the_password(wh: Recorder) -> None:
    assert "S3cret" not in wh.description
    assert wh.description == "mssql warehouse mssql://loader@sql.example:1433/dw"


def test_without_pyodbc_connecting_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # ``import pyodbc`` fails as if absent
    wh = MSSQLWarehouse(WarehouseConfig(type="mssql", url=URL), tmp_path)
    with pytest.raises(ConnectionFailed, match=r"tidegate\[mssql\]") as caught:
        wh.connect()
    assert "S3cret" not in str(caught.value)


class DriverError(Exception):
    """Shaped like pyodbc.Error: (sqlstate, message)."""


@pytest.mark.parametrize(
    ("state", "transient"),
    [("40001", True), ("08S01", True), ("HYT00", True), ("42S02", False), ("23000", False)],
)
def test_driver_errors_are_translated(wh: Recorder, state: str, transient: bool) -> None:
    text = f"[{state}] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Something (1205)"
    error = wh._translate(DriverError(state, text))
    assert isinstance(error, TransientWarehouseError) is transient
    assert str(error).endswith(": Something (1205)")


def test_rows_for_the_driver() -> None:
    batch = pa.record_batch(
        {
            "s": pa.array(["a", None]).dictionary_encode(),
            "at": pa.array([datetime(2024, 1, 2), None], pa.timestamp("ns")),
            "d": pa.array([Decimal("1.20"), None], pa.decimal128(10, 2)),
            "j": pa.array(['{"a": 1}', None], pa.json_()),
        }
    )
    assert list(python_rows(batch)) == [
        ("a", datetime(2024, 1, 2), Decimal("1.20"), '{"a": 1}'),
        (None, None, None, None),
    ]


def test_write_arrow_sends_one_parameterised_insert(
    wh: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(wh, "_run_many", lambda sql, rows: sent.append((sql, len(list(rows)))))
    monkeypatch.setattr(Recorder, "BATCH_ROWS", 2)
    batch = pa.record_batch({"a": [1, 2, 3], "B c": ["x", "y", "z"]})
    reader = pa.RecordBatchReader.from_batches(batch.schema, [batch])
    assert wh.write_arrow("t", "core", reader) == 3
    insert = "INSERT INTO [core].[t] ([a], [B c]) VALUES (?, ?)"
    assert sent == [(insert, 2), (insert, 1)]


def test_where_true_is_rendered_for_tsql() -> None:
    query = exp.select(col("a")).from_(table("t")).where(col("ok").eq(lit(True)))
    assert tsql(query) == "SELECT [a] FROM [t] WHERE [ok] = 1"


# --------------------------------------------------------------------------- changing types


def test_a_wider_type_is_altered_in_place(wh: Recorder) -> None:
    wh.alter_types("t", "core", [("code", data_type("varchar")), ("n", data_type("decimal(12,2)"))])
    assert wh.sent == [
        "ALTER TABLE [core].[t] ALTER COLUMN [code] NVARCHAR(MAX)",
        "ALTER TABLE [core].[t] ALTER COLUMN [n] NUMERIC(12, 2)",
    ]
    for sql in wh.sent:
        parses(sql)


def test_declared_types_compare_with_the_catalogs(wh: Recorder) -> None:
    from tidegate.warehouse.mssql import type_text

    pairs = [
        ("varchar", type_text("nvarchar", -1, None, None)),
        ("decimal(10,2)", type_text("decimal", None, 10, 2)),
        ("decimal", type_text("decimal", None, 18, 3)),  # DuckDB's default, as tables get it
        ("integer", type_text("int", None, 10, 0)),
        ("timestamp", type_text("datetime2", None, None, None)),
    ]
    for declared, catalog in pairs:
        assert wh.same_type(wh.declared_type(data_type(declared)), wh.parse_type(catalog)), (
            declared,
            catalog,
        )
    assert not wh.same_type(wh.declared_type(data_type("bigint")), wh.parse_type("INT"))
