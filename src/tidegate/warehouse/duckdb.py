"""Embedded DuckDB: the default warehouse, one file on disk."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generators.duckdb import DuckDBGenerator

from tidegate import faults
from tidegate.compute.duckdb import DuckDBEngine
from tidegate.errors import ConnectionFailed, WarehouseError, first_line
from tidegate.sql import col, ident, lit, table
from tidegate.warehouse.base import Row, Rows, Warehouse

try:  # POSIX; elsewhere a rewrite relies on DuckDB's own lock alone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# A DuckDB file has one writing process: a second run (cron overlapping a long load) waits
# for the first this long before it says the file is held.
LOCK_WAIT_SECONDS = 300.0
BATCH_VIEW = "_tg_batch"
REWRITE = ".rewrite"  # the new copy of the file, beside it, until it is renamed into place
REWRITE_ALIAS = "_tg_rewrite"
WAREHOUSE_MEMORY = "1GB"  # beside the compute engine's own limit; past it DuckDB spills


def _compression(generator: DuckDBGenerator, constraint: exp.CompressColumnConstraint) -> str:
    return f"USING COMPRESSION {generator.sql(constraint, 'this')}"


class WarehouseDuckDB(DuckDB):
    """DuckDB as sqlglot writes it, and a column's ``USING COMPRESSION``, unknown to it."""

    class Generator(DuckDBGenerator):
        TRANSFORMS: ClassVar = {
            **DuckDBGenerator.TRANSFORMS,
            exp.CompressColumnConstraint: _compression,
        }


class DuckDBWarehouse(Warehouse):
    NAME: ClassVar[str] = "duckdb"
    DIALECT: ClassVar[str] = "duckdb"
    SUPPORTS_MERGE: ClassVar[bool] = True
    JOIN_INDEXES: ClassVar[bool] = False  # joins by hashing; every index rewritten at checkpoints
    READS_INTO_RAW: ClassVar[bool] = True  # the compute engine is this file's connection
    DEFAULT_DECIMAL: ClassVar[tuple[int, int] | None] = (18, 3)
    # Written in 0.6x the CPU time of the default (FSST) and 1.5x its size, as measured in
    # docs/benchmarks.md: the raw layer is written once and seldom read.
    RAW_COMPRESSION: ClassVar[str | None] = "zstd"

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
                with self._opening():
                    self._con = duckdb.connect(str(self.file), config=_settings(self.root))
                return
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise ConnectionFailed(str(self.file), first_line(exc)) from exc
                time.sleep(0.2)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- storage ----------------------------------------------------------------------

    @property
    def rewrite_file(self) -> Path:
        return self.file.with_name(self.file.name + REWRITE)

    @contextmanager
    def _opening(self) -> Iterator[None]:
        """An flock beside the file, held while it is opened and during a rewrite's
        close, rename and reopen: another tidegate process never opens, and writes to,
        the old file in the moment it is replaced."""
        lock = self.file.with_name(self.file.name + REWRITE + ".lock")
        with lock.open("a") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _reopen(self) -> None:
        self._con = duckdb.connect(str(self.file), config=_settings(self.root))

    def forget_bytes(self, tables: Sequence[tuple[str, str]]) -> bool:
        """Copy the whole database into a new file, then rename it over the old one.

        DuckDB never rewrites a row group that still has live rows, and ``VACUUM`` and
        ``CHECKPOINT`` only put freed blocks on a free list: a deleted or updated value
        stays in the file until its block is reused. ``COPY FROM DATABASE`` writes only
        the live rows (with the schemas, tables, indexes, views and sequences) into a new
        file. Until the rename the old file is untouched and complete; the rename is
        atomic; so a process killed at any point leaves either the old warehouse or the
        new one, never half of each (a left-over copy is removed at the next rewrite).
        ``tables`` is not needed: every table is copied.
        """
        self.execute(exp.Command(this="CHECKPOINT"))  # the WAL into the file first
        fresh = self.rewrite_file
        _remove(fresh, _wal(fresh))
        name = self.scalar(exp.select(exp.func("current_database")))
        self.execute(exp.Attach(this=exp.alias_(lit(str(fresh)), ident(REWRITE_ALIAS))))
        try:
            source, into = (ident(n).sql(self.DIALECT) for n in (str(name), REWRITE_ALIAS))
            self.execute(
                exp.Command(this="COPY", expression=lit(f"FROM DATABASE {source} TO {into}"))
            )
            faults.checkpoint("rewrite.copied")
        finally:
            self.execute(exp.Detach(this=ident(REWRITE_ALIAS)))
        with self._opening():
            self.close()  # checkpoints the old file, so it has no WAL left to replay
            try:
                if _wal(self.file).exists() or _wal(fresh).exists():
                    raise WarehouseError(f"{self.description}: a WAL file is left; not replaced")
                _fsync(fresh)
                faults.checkpoint("rewrite.before_rename")
                os.replace(fresh, self.file)
                _fsync(self.file.parent)
            finally:
                self._reopen()
        return True

    def render(self, expression: exp.Expression) -> str:
        return expression.sql(dialect=WarehouseDuckDB)

    def _run(self, sql: str) -> list[Row]:
        try:
            result = self.con.execute(sql)
            return result.fetchall() if result.description else []
        except duckdb.Error as exc:
            raise WarehouseError(f"{self.description}: {first_line(exc)}") from exc

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


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a file (or a folder, so a rename in it lasts) to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _settings(root: Path) -> dict[str, str | bool | int | float | list[str]]:
    cache = root / ".tidegate"
    return {
        "extension_directory": str(cache / "extensions"),
        "autoinstall_known_extensions": False,
        "temp_directory": str(cache / "spill-warehouse"),
        "memory_limit": WAREHOUSE_MEMORY,
    }
