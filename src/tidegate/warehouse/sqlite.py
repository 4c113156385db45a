"""SQLite: one database file per schema, ATTACHed under the schema's name.

``warehouse.sqlite`` is the main file; schema ``core`` lives in ``warehouse.core.sqlite``
and is attached as ``core``, so ``"core"."t"`` means the same as on a server. The
configured schemas (core, raw, tidegate) are attached on connect, because SQLite refuses
to ATTACH inside a transaction.

A transaction that writes to several attached files is atomic only with a rollback
journal (SQLite then commits them together through a super-journal); in WAL mode each
file would commit on its own. Every file is therefore kept in ``journal_mode=DELETE``.

Values keep their types through declared column types: dates and timestamps are ISO
text, booleans 0/1, decimals SQLite numbers (exact to 15 significant digits), JSON text;
reading converts them back to ``date``, ``datetime``, ``bool`` and ``Decimal``.

Advisory locks are ``flock`` locks on one small file per key beside the database, so two
runs on one machine never load the same file at once; the operating system releases them
when a process dies.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from tidegate.config.models import WarehouseConfig
from tidegate.errors import ConnectionFailed, TransientWarehouseError, WarehouseError, first_line
from tidegate.sql import col, ident, lit, table
from tidegate.warehouse.base import Row
from tidegate.warehouse.dbapi import DBAPIWarehouse

try:  # POSIX; elsewhere locks are not taken (one run at a time)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_FILE = "warehouse.sqlite"
BUSY_TIMEOUT_SECONDS = 30.0
BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_]+$")
BUILT_IN_SCHEMAS = frozenset({"main", "temp"})

# Declared column types. SQLite derives each column's affinity from its type's name, and
# the first word of it picks the converter on read. JSON is declared TEXT: under its own
# name it would get NUMERIC affinity and turn the document ``1.50`` into the number 1.5.
TYPE_NAMES: dict[exp.DType, str] = {
    exp.DType.VARCHAR: "TEXT",
    exp.DType.TEXT: "TEXT",
    exp.DType.JSON: "TEXT",
}


def _timestamp(value: bytes) -> datetime | str:
    text = value.decode()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def _date(value: bytes) -> date | str:
    text = value.decode()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _decimal(value: bytes) -> Decimal | str:
    try:
        return Decimal(value.decode())
    except InvalidOperation:
        return value.decode()


def _boolean(value: bytes) -> bool | str:
    text = value.decode()
    return bool(int(text)) if text.lstrip("-").isdigit() else text


# Converters are registered by declared type name (process-wide, as sqlite3 requires); they
# apply only to connections opened with PARSE_DECLTYPES, as this adapter's are.
CONVERTERS = {
    "TIMESTAMP": _timestamp,
    "TIMESTAMPTZ": _timestamp,
    "DATE": _date,
    "DECIMAL": _decimal,
    "NUMERIC": _decimal,
    "BOOLEAN": _boolean,
}
for _name, _converter in CONVERTERS.items():
    sqlite3.register_converter(_name, _converter)


class SQLiteWarehouse(DBAPIWarehouse):
    NAME: ClassVar[str] = "sqlite"
    DIALECT: ClassVar[str] = "sqlite"
    SUPPORTS_MERGE: ClassVar[bool] = False  # INSERT ... ON CONFLICT, not MERGE
    MODELS_AS_TABLES: ClassVar[bool] = True  # a view may only read its own file's tables

    _con: sqlite3.Connection | None = None

    def __init__(self, config: WarehouseConfig, root: Path) -> None:
        super().__init__(config, root)
        self._attached: set[str] = set()
        self._locks: dict[str, int] = {}

    @property
    def file(self) -> Path:
        # WarehouseConfig defaults ``path`` to the DuckDB file; unless set, use our own name.
        given = self.config.path if "path" in self.config.model_fields_set else None
        path = Path(given or DEFAULT_FILE)
        return path if path.is_absolute() else self.root / path

    def schema_file(self, schema: str) -> Path:
        """``warehouse.sqlite`` -> ``warehouse.core.sqlite`` for schema ``core``."""
        return self.file.with_name(f"{self.file.stem}.{schema}{self.file.suffix or '.sqlite'}")

    @property
    def description(self) -> str:
        return f"sqlite warehouse {self.file}"

    @property
    def con(self) -> sqlite3.Connection:
        if self._con is None:
            raise WarehouseError(f"{self.description} is not connected")
        return self._con

    # -- connection -------------------------------------------------------------------

    def connect(self) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(
                self.file,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; transaction() says BEGIN itself
                detect_types=sqlite3.PARSE_DECLTYPES,
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConnectionFailed(str(self.file), first_line(exc)) from exc
        self._rollback_journal("main")
        self.forget_catalog()  # a new connection has nothing attached yet
        for schema in sorted(self._known_schemas()):
            self.ensure_schema(schema)

    def close(self) -> None:
        for key in list(self._locks):
            self.unlock(key)
        if self._con is not None:
            self._con.close()
            self._con = None
        self._attached.clear()

    def _known_schemas(self) -> set[str]:
        """The configured schemas and every schema file already beside the database."""
        names = set(self.schemas.model_dump().values())
        prefix, suffix = f"{self.file.stem}.", self.file.suffix or ".sqlite"
        for path in self.file.parent.glob(f"{prefix}*{suffix}"):
            name = path.name[len(prefix) : len(path.name) - len(suffix)]
            if SCHEMA_NAME.match(name):
                names.add(name)
        return names

    # -- SQL --------------------------------------------------------------------------

    def render(self, expression: exp.Expression) -> str:
        return _with_declared_types(expression).sql(dialect=self.DIALECT)

    def _run(self, sql: str) -> list[Row]:
        try:
            cursor = self.con.execute(sql)
            return cursor.fetchall() if cursor.description else []
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.con.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: sqlite3.Error) -> WarehouseError:
        """The one place a driver error becomes a tidegate error."""
        message = f"{self.description}: {first_line(exc)}"
        if getattr(exc, "sqlite_errorcode", None) in BUSY_CODES:
            return TransientWarehouseError(message)
        return WarehouseError(message)

    def begin(self) -> exp.Expression:
        """``BEGIN IMMEDIATE`` takes the write lock up front: a deferred transaction that
        reads and then writes could fail with "database is locked" and no wait. The
        transaction holds across attached schemas."""
        return exp.Transaction(this="IMMEDIATE")

    # -- schemas and tables -----------------------------------------------------------

    def _ensure_schema(self, name: str) -> None:
        """Attach the schema's file (created when missing) under the schema's name."""
        if name in self._attached or name in BUILT_IN_SCHEMAS:
            return
        if not SCHEMA_NAME.match(name):
            raise WarehouseError(
                f"{self.description}: schema name {name!r} must be letters, digits or '_'"
            )
        if self.con.in_transaction:
            raise WarehouseError(
                f"{self.description}: schema {name!r} is not attached and SQLite cannot attach"
                " inside a transaction; add it to warehouse.schemas in tidegate.yml"
            )
        attach = exp.Attach(this=exp.alias_(lit(str(self.schema_file(name))), ident(name)))
        self.execute(attach)
        self._attached.add(name)
        self._rollback_journal(name)

    def _rollback_journal(self, schema: str) -> None:
        self._pragma(schema, "journal_mode", "DELETE")
        # Deleted cells are zeroed when that costs no extra write; VACUUM does the rest.
        self._pragma(schema, "secure_delete", "FAST")

    def _pragma(self, schema: str, name: str, value: str) -> None:
        pragma = exp.Pragma(
            this=exp.EQ(
                this=exp.Dot(this=ident(schema), expression=exp.var(name)),
                expression=exp.var(value),
            )
        )
        self.execute(pragma)

    # -- storage ----------------------------------------------------------------------

    def forget_bytes(self, tables: Sequence[tuple[str, str]]) -> bool:
        """``VACUUM`` each schema file that holds one of ``tables``: SQLite rebuilds it
        from its live rows into a temporary file and copies that back under its rollback
        journal, so a kill midway leaves the old file (the journal rolls it back), and
        freed pages, with the old bytes, are gone."""
        schemas = sorted({schema for schema, _ in tables} & (self._attached | {"main"}))
        for schema in schemas:
            self.execute(
                exp.Command(this="VACUUM", expression=lit(ident(schema).sql(self.DIALECT)))
            )
        return True

    def _columns_of(self, name: str, schema: str) -> dict[str, str] | None:
        if schema not in self._attached and schema not in BUILT_IN_SCHEMAS:
            return None
        info = exp.Anonymous(this="pragma_table_info", expressions=[lit(name), lit(schema)])
        query = (
            exp.select(col("name"), col("type")).from_(exp.Table(this=info)).order_by(col("cid"))
        )
        rows = self.execute(query)
        return {str(r[0]): str(r[1]) for r in rows} if rows else None

    def type_text(self, kind: exp.DataType) -> str:
        """Declared types are DuckDB's spelling (see ``_with_declared_types``): SQLite's own
        would call a DECIMAL REAL and a BIGINT INTEGER."""
        return kind.sql(dialect="duckdb")

    def alter_types(
        self, name: str, schema: str, changes: Sequence[tuple[str, exp.DataType]]
    ) -> None:
        """SQLite cannot alter a column's type: the table is copied with the new types.

        With ``legacy_alter_table`` the rename does not check the views of the schema,
        which still name the dropped table until the copy takes its name.
        """
        indexes = self.indexes_of(name, schema)
        self.execute(_legacy_alter(True))
        try:
            self.rebuild(name, schema, changes)
        finally:
            self.execute(_legacy_alter(False))
        for index, columns in indexes.items():
            self.ensure_index(name, schema, index, columns)

    def indexes_of(self, name: str, schema: str) -> dict[str, list[str]]:
        """Indexes made by ``CREATE INDEX`` (not those SQLite makes for a primary key)."""
        listed = exp.Anonymous(this="pragma_index_list", expressions=[lit(name), lit(schema)])
        query = (
            exp.select(col("name")).from_(exp.Table(this=listed)).where(col("origin").eq(lit("c")))
        )
        found: dict[str, list[str]] = {}
        for (index,) in self.execute(query):
            info = exp.Anonymous(this="pragma_index_info", expressions=[lit(index), lit(schema)])
            columns = exp.select(col("name")).from_(exp.Table(this=info)).order_by(col("seqno"))
            found[str(index)] = [str(c) for (c,) in self.execute(columns)]
        return found

    def ensure_index(self, name: str, schema: str, index: str, columns: Sequence[str]) -> None:
        """SQLite names the schema on the index, never on its table: ``"core"."i" ON "t"``."""
        params = exp.IndexParameters(columns=[col(c) for c in columns])
        node = exp.Index(
            this=table(self.index_name(index), schema), table=table(name), params=params
        )
        self.execute(exp.Create(this=node, kind="INDEX", exists=True))

    # -- bulk -------------------------------------------------------------------------

    def python_rows(self, batch: pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
        return python_rows(batch)

    # -- locks ------------------------------------------------------------------------

    def lock(self, key: str) -> bool:
        """An exclusive ``flock`` on a file named after ``key``; False if another run has it."""
        if key in self._locks or fcntl is None:
            return True
        descriptor = _try_flock(self._lock_path(key))
        if descriptor is None:
            return False
        self._locks[key] = descriptor
        return True

    def unlock(self, key: str) -> None:
        descriptor = self._locks.pop(key, None)
        if descriptor is None:
            return
        # Removed while still held, so that no other run can lock a file about to vanish.
        self._lock_path(key).unlink(missing_ok=True)
        os.close(descriptor)

    def _lock_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.file.with_name(f"{self.file.name}.locks") / f"{digest}.lock"


# --------------------------------------------------------------------------- helpers


def python_rows(batch: pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
    """Rows of values sqlite3 binds as they are: ISO text for dates and times, decimals as text."""
    columns = [_bindable(array).to_pylist() for array in batch.columns]
    return zip(*columns, strict=True)


def _bindable(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    if pa.types.is_timestamp(kind):
        return timestamp_text(array)
    if pa.types.is_temporal(kind) or pa.types.is_decimal(kind):
        return pc.cast(array, pa.string())
    return array


def timestamp_text(array: pa.Array) -> pa.Array:
    """Timestamps written as ``str(datetime)`` writes them, as sqlglot's literals are too.

    Stored timestamps are compared as text, so every one must have the same form: seconds,
    then microseconds only when there are some; aware ones in UTC with ``+00:00``.
    """
    aware = array.type.tz is not None
    micros = pc.cast(array, pa.timestamp("us", "UTC" if aware else None), safe=False)
    text = pc.replace_substring_regex(pc.strftime(micros, "%Y-%m-%d %H:%M:%S"), r"\.0{6}$", "")
    return pc.binary_join_element_wise(text, "+00:00", "") if aware else text


def _with_declared_types(expression: exp.Expression) -> exp.Expression:
    """A copy whose column definitions carry the declared type names listed above.

    Only column definitions change: a CAST keeps sqlglot's SQLite translation.
    """
    expression = expression.copy()
    for column in expression.find_all(exp.ColumnDef):
        kind = column.args.get("kind")
        if isinstance(kind, exp.DataType):
            name = TYPE_NAMES.get(kind.this) or kind.sql(dialect="duckdb")
            column.set("kind", exp.DataType(this=exp.DType.USERDEFINED, kind=name))
    return expression


def _legacy_alter(on: bool) -> exp.Pragma:
    setting = exp.EQ(this=exp.var("legacy_alter_table"), expression=exp.var("ON" if on else "OFF"))
    return exp.Pragma(this=setting)


def _try_flock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path``, or None when it is taken.

    A holder removes the file before releasing it, so a lock is only ours if the file we
    locked is still the one at ``path``.
    """
    assert fcntl is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        if _same_file(descriptor, path):
            return descriptor
        os.close(descriptor)
        time.sleep(0)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.fstat(descriptor).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False
