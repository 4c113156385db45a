"""Embedded DuckDB: the default warehouse, one file on disk."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from tidegate.compute.duckdb import DuckDBEngine
from tidegate.errors import ConnectionFailed, WarehouseError
from tidegate.sql import col, ident, lit, table
from tidegate.warehouse.base import Row, Rows, Warehouse

LOCK_WAIT_SECONDS = 30.0
BATCH_VIEW = "_tg_batch"
WAREHOUSE_MEMORY = "1GB"  # beside the compute engine's own limit; past it DuckDB spills


class DuckDBWarehouse(Warehouse):
    NAME: ClassVar[str] = "duckdb"
    DIALECT: ClassVar[str] = "duckdb"
    SUPPORTS_MERGE: ClassVar[bool] = True
    JOIN_INDEXES: ClassVar[bool] = False  # joins by hashing; every index rewritten at checkpoints
    DEFAULT_DECIMAL: ClassVar[tuple[int, int] | None] = (18, 3)

    _con: duckdb.DuckDBPyConnection | None = None

    @property
    def file(self) -> Path:
        path = Path(self.config.path or "warehouse.duckdb")
        return path if path.is_absolute() else self.root / path

    @property
    def description(self) -> str:
        return f"duckdb warehouse {self.file}"

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise WarehouseError(f"{self.description} is not connected")
        return self._con

    def connect(self) -> None:
        """Open the file; another process holding it is waited for, then reported."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        (self.root / ".tidegate").mkdir(parents=True, exist_ok=True)  # where it spills
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self._con = duckdb.connect(str(self.file), config=_settings(self.root))
                return
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise ConnectionFailed(str(self.file), _first_line(exc)) from exc
                time.sleep(0.2)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _run(self, sql: str) -> list[Row]:
        try:
            result = self.con.execute(sql)
            return result.fetchall() if result.description else []
        except duckdb.Error as exc:
            raise WarehouseError(f"{self.description}: {_first_line(exc)}") from exc

    def alter_types(
        self, name: str, schema: str, changes: Sequence[tuple[str, exp.DataType]]
    ) -> None:
        """DuckDB alters no column of a table that has an index, even one dropped earlier in
        the same transaction: such a table is copied with the new types, its indexes made
        again."""
        indexes = self.indexes_of(name, schema)
        if not indexes:
            super().alter_types(name, schema, changes)
            return
        self.rebuild(name, schema, changes)
        for index, columns in indexes.items():
            self.ensure_index(name, schema, index, columns)

    def indexes_of(self, name: str, schema: str) -> dict[str, list[str]]:
        query = (
            exp.select(col("index_name"), col("sql"))
            .from_(exp.Table(this=exp.Anonymous(this="duckdb_indexes", expressions=[])))
            .where(col("schema_name").eq(lit(schema)))
            .where(col("table_name").eq(lit(name)))
        )
        found: dict[str, list[str]] = {}
        for index, text in self.execute(query):
            created = sqlglot.parse_one(str(text), read=self.DIALECT)
            found[str(index)] = [c.name for c in created.find_all(exp.Column)]
        return found

    def engine(self, memory_limit: str) -> DuckDBEngine:
        """The warehouse file's connection computes too, within one memory limit."""
        setting = exp.EQ(this=exp.column("memory_limit"), expression=lit(memory_limit))
        self.execute(exp.Set(expressions=[exp.SetItem(this=setting)]))
        engine = DuckDBEngine(self.con, owned=False, memory_limit=memory_limit)
        engine.measure()
        return engine

    def write_rows(self, name: str, schema: str, rows: Rows) -> int:
        if not (isinstance(rows.con, DuckDBEngine) and rows.con.shares(self._con)):
            return super().write_rows(name, schema, rows)
        columns = [ident(column) for column in rows.names]
        insert = exp.insert(rows.query, table(name, schema), columns=columns)
        result = self.execute(insert)  # DuckDB answers an INSERT with its row count
        return int(result[0][0]) if result else 0

    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        columns = [ident(field.name) for field in batches.schema]
        select = exp.select(*columns).from_(table(BATCH_VIEW))
        insert = exp.insert(select, table(name, schema), columns=columns)
        self.con.register(BATCH_VIEW, batches)
        try:
            rows = self.execute(insert)  # DuckDB answers an INSERT with its row count
        finally:
            self.con.unregister(BATCH_VIEW)
        return int(rows[0][0]) if rows else 0


def _settings(root: Path) -> dict[str, str | bool | int | float | list[str]]:
    cache = root / ".tidegate"
    return {
        "extension_directory": str(cache / "extensions"),
        "autoinstall_known_extensions": False,
        "temp_directory": str(cache / "spill-warehouse"),
        "memory_limit": WAREHOUSE_MEMORY,
    }


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
