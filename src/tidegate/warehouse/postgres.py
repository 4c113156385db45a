"""PostgreSQL through psycopg 3.

Bulk loads stream each Arrow batch through pyarrow's CSV writer into one
``COPY ... FROM STDIN (FORMAT CSV)``: the CSV is produced in C++ a batch at a time, so the
whole input is never in memory, and it measured about twice as fast as binary COPY fed
row by row from Python (see docs/warehouses.md). CSV keeps NULL and the empty string apart
(an empty string is written quoted), and every target type has an exact text form.

The connection runs in autocommit mode: a statement outside ``transaction()`` commits on
its own, as in DuckDB; ``transaction()`` is psycopg's, so nesting becomes a savepoint.
Session advisory locks keep two runs off the same file, and are taken again when a lost
connection is re-established by ``recover()``.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlglot
from psycopg import pq
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.string import TextLoader
from sqlglot import exp

from tidegate.config.models import WarehouseConfig
from tidegate.config.redact import URL_SCHEME, hide_passwords, url_problem
from tidegate.errors import ConnectionFailed, TransientWarehouseError, WarehouseError, first_line
from tidegate.sql import col, ident, lit, table
from tidegate.warehouse.base import Endpoint, Row, Warehouse

CONNECT_TIMEOUT_SECONDS = 10
LOCK_WAIT_SECONDS = 60.0
LOCK_NAMESPACE = "tidegate:"
DDL_LOCK = "ddl"

# Errors after which the same work may succeed: serialization failure, deadlock, lock wait
# timeout, and the server ending the session (shutdown, pg_terminate_backend).
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})
CONNECTION_SQLSTATE_CLASS = "08"

# psycopg would parse json into Python objects; every adapter returns JSON as text.
JSON_TYPES = ("json", "jsonb")

# Target types whose PostgreSQL spelling differs from sqlglot's default. JSONB, unlike JSON,
# has an equality operator, which merge and history comparisons need.
TYPE_OVERRIDES: dict[exp.DType, exp.DType] = {
    exp.DType.JSON: exp.DType.JSONB,
}


class PostgresWarehouse(Warehouse):
    NAME: ClassVar[str] = "postgres"
    REQUIRED_SETTINGS: ClassVar[tuple[str, ...]] = ("url",)
    DIALECT: ClassVar[str] = "postgres"
    SUPPORTS_MERGE: ClassVar[bool] = True
    ANALYZE_WORK_TABLES: ClassVar[bool] = True  # autovacuum never sees temporary tables
    MAX_IDENTIFIER_LENGTH: ClassVar[int] = 63
    TEMP_SCHEMA: ClassVar[str] = "pg_temp"
    SHARED_CATALOG: ClassVar[bool] = True

    _con: psycopg.Connection[Row] | None = None

    def __init__(self, config: WarehouseConfig, root: Path) -> None:
        super().__init__(config, root)
        self._locks: set[str] = set()

    @property
    def url(self) -> str:
        if not self.config.url:
            raise WarehouseError("a postgres warehouse needs a 'url' in tidegate.yml")
        return self.config.url

    @property
    def endpoint(self) -> Endpoint:
        return endpoint(self.url)

    @property
    def description(self) -> str:
        return f"postgres warehouse {self.endpoint}"

    @property
    def con(self) -> psycopg.Connection[Row]:
        if self._con is None:
            raise WarehouseError(f"{self.description} is not connected")
        return self._con

    # -- connection -------------------------------------------------------------------

    def connect(self) -> None:
        """Open the session; a refused connection or a failed login is ``ConnectionFailed``."""
        try:
            self._con = psycopg.connect(_conninfo(self.url), autocommit=True)
        except psycopg.Error as exc:
            # Not chained: libpq's text may quote the URL (an invalid %-escape quotes the
            # password around it), and --debug prints the chain. The reason is redacted.
            raise ConnectionFailed(str(self.endpoint), _reason(exc, self.url)) from None
        for name in JSON_TYPES:
            self._con.adapters.register_loader(name, TextLoader)

    def close(self) -> None:
        """End the session, which releases its advisory locks."""
        self._locks.clear()
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def connected(self) -> bool:
        return self._con is not None and not self._con.closed and not self._con.broken

    def recover(self) -> None:
        """Reconnect when the session was lost, and take its advisory locks again."""
        if self.connected:
            return
        held = sorted(self._locks)
        self.close()
        self.connect()
        for key in held:
            self._relock(key)

    # -- SQL --------------------------------------------------------------------------

    def render(self, expression: exp.Expression) -> str:
        return _retyped(expression).sql(dialect=self.DIALECT)

    def _run(self, sql: str) -> list[Row]:
        try:
            with self.con.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: psycopg.Error) -> WarehouseError:
        """The one place a driver error becomes a tidegate error."""
        message = f"{self.description}: {first_line(exc)}{_copy_context(exc)}"
        if _is_transient(exc, self._con):
            return TransientWarehouseError(message)
        return WarehouseError(message)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all; nested blocks are savepoints."""
        try:
            with self.con.transaction():
                yield
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    # -- storage ----------------------------------------------------------------------

    def forget_bytes(self, tables: Sequence[tuple[str, str]]) -> bool:
        """``VACUUM FULL`` each of ``tables`` that exists, one by one in autocommit (it
        cannot run in a transaction): PostgreSQL writes the live rows into new files, its
        TOAST table and indexes too, and truncates the old ones at commit, so the dead
        tuples' bytes leave the table's files. Each table is locked (ACCESS EXCLUSIVE)
        only while its own rewrite runs; a kill midway leaves the old file in place.
        What stays is the WAL (until recycled) and backups: see docs/privacy.md."""
        for schema, name in sorted(set(tables)):
            if self.columns_of(name, schema) is None:
                continue
            target = table(name, schema).sql(self.DIALECT)
            self.execute(exp.Command(this="VACUUM", expression=lit(f"FULL {target}")))
        return True

    # -- tables -----------------------------------------------------------------------

    def _ensure_schema(self, name: str) -> None:
        if not self._schema_exists(name):
            with self._ddl_lock():
                super()._ensure_schema(name)

    def ensure_table(
        self,
        name: str,
        schema: str,
        columns: Sequence[tuple[str, exp.DataType]],
        primary_key: Sequence[str] = (),
    ) -> list[str]:
        existing = self.columns_of(name, schema)
        if existing is not None and not _missing(existing, columns):
            return []
        with self._ddl_lock():
            self.forget_catalog()  # another process may have changed it while we waited
            return super().ensure_table(name, schema, columns, primary_key)

    def _column_types(self, name: str, schema: str) -> dict[str, str] | None:
        """``format_type`` spells a type with its precision or length, as it was declared."""
        rows = self.execute(_types_query(name, schema))
        return {str(r[0]): str(r[1]) for r in rows} if rows else None

    def alter_types(
        self, name: str, schema: str, changes: Sequence[tuple[str, exp.DataType]]
    ) -> None:
        """PostgreSQL alters no column a view reads: the views over the table (and the
        views over those) are dropped and made again from their definitions around it."""
        with self._ddl_lock():
            views = self._dependent_views(schema, name, [])
            for view_schema, view, _ in reversed(views):
                self.execute(exp.Drop(tables=[table(view, view_schema)], kind="VIEW"))
            super().alter_types(name, schema, changes)
            for view_schema, view, definition in views:
                query = sqlglot.parse_one(definition, read=self.DIALECT)
                self.execute(
                    exp.Create(this=table(view, view_schema), kind="VIEW", expression=query)
                )

    def _dependent_views(
        self, schema: str, name: str, found: list[tuple[str, str, str]]
    ) -> list[tuple[str, str, str]]:
        """(schema, view, definition) of every view that reads the relation, directly or
        through other views, each after the views it reads."""
        for view_schema, view, definition in self.execute(_views_query(schema, name)):
            entry = (str(view_schema), str(view), str(definition))
            if entry in found:
                found.remove(entry)
            found.append(entry)
            self._dependent_views(entry[0], entry[1], found)
        return found

    def ensure_index(self, name: str, schema: str, index: str, columns: Sequence[str]) -> None:
        if schema == self.TEMP_SCHEMA:  # private to this session: nobody to collide with
            super().ensure_index(name, schema, index, columns)
        elif not self._index_exists(schema, self.index_name(index)):
            with self._ddl_lock():
                super().ensure_index(name, schema, index, columns)

    def _index_exists(self, schema: str, index: str) -> bool:
        query = (
            exp.select(lit(1))
            .from_(table("pg_indexes", "pg_catalog"))
            .where(col("schemaname").eq(lit(schema)))
            .where(col("indexname").eq(lit(index)))
        )
        return bool(self.execute(query))

    def indexes_of(self, name: str, schema: str) -> dict[str, list[str]]:
        query = (
            exp.select(col("indexname"), col("indexdef"))
            .from_(table("pg_indexes", "pg_catalog"))
            .where(col("schemaname").eq(lit(schema)))
            .where(col("tablename").eq(lit(name)))
        )
        found: dict[str, list[str]] = {}
        for index, text in self.execute(query):
            created = sqlglot.parse_one(str(text), read=self.DIALECT)
            found[str(index)] = [c.name for c in created.find_all(exp.Column)]
        return found

    def _schema_exists(self, name: str) -> bool:
        query = (
            exp.select(lit(1))
            .from_(table("pg_namespace", "pg_catalog"))
            .where(col("nspname").eq(lit(name)))
        )
        return bool(self.execute(query))

    @contextmanager
    def _ddl_lock(self) -> Iterator[None]:
        """Serialise DDL between runs until the surrounding transaction ends.

        Two sessions running ``CREATE ... IF NOT EXISTS`` at once can both miss the other's
        uncommitted object and fail on the catalog's unique index; a transaction-scoped
        advisory lock makes the second wait and then see the first one's table.
        """
        with self.transaction():
            self.execute(_lock_call("pg_advisory_xact_lock", DDL_LOCK))
            yield

    # -- bulk -------------------------------------------------------------------------

    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        columns = batches.schema.names
        copy = self.render(copy_statement(table(name, schema), columns))
        options = _csv_options(len(columns))
        rows = 0
        try:
            # A queued writer sends on its own thread while the next batch is computed.
            with (
                self.con.cursor() as cursor,
                cursor.copy(copy, writer=QueuedLibpqWriter(cursor)) as sink,
            ):
                for batch in batches:
                    if batch.num_rows:
                        sink.write(csv_chunk(batch, options))
                        rows += batch.num_rows
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        except pa.ArrowException as exc:
            raise WarehouseError(f"{self.description}: cannot copy into {name}: {exc}") from exc
        return rows

    # -- locks ------------------------------------------------------------------------

    def lock(self, key: str) -> bool:
        """A session advisory lock on ``key``; False when another session holds it."""
        if key in self._locks:
            return True
        if not self.scalar(_lock_call("pg_try_advisory_lock", key)):
            return False
        self._locks.add(key)
        return True

    def unlock(self, key: str) -> None:
        if key not in self._locks:
            return
        self._locks.discard(key)
        if self.connected:  # a lost session has already released its locks
            self.execute(_lock_call("pg_advisory_unlock", key))

    def _relock(self, key: str) -> None:
        """Take a lock again after reconnecting, waiting while another run has it."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not self.lock(key):
            if time.monotonic() > deadline:
                raise WarehouseError(
                    f"{self.description}: lost the lock on {key!r} with the connection, and "
                    f"another run has held it for {LOCK_WAIT_SECONDS:.0f}s; run again later"
                )
            time.sleep(0.2)


# --------------------------------------------------------------------------- SQL builders


def copy_statement(target: exp.Table, columns: Sequence[str]) -> exp.Copy:
    """``COPY "s"."t" ("a", "b") FROM STDIN WITH (FORMAT CSV)``.

    >>> copy_statement(table("t", "s"), ["a"]).sql("postgres")
    'COPY "s"."t" ("a") FROM STDIN WITH (FORMAT CSV)'
    """
    return exp.Copy(
        this=exp.Schema(this=target, expressions=[ident(c) for c in columns]),
        kind=True,
        files=[exp.to_identifier("STDIN")],
        params=[exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("CSV"))],
    )


def lock_id(key: str) -> int:
    """A signed 64-bit advisory lock number for ``key``, the same in every process.

    >>> lock_id("abc") == lock_id("abc")
    True
    """
    digest = hashlib.sha256((LOCK_NAMESPACE + key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_call(function: str, key: str) -> exp.Select:
    return exp.select(exp.Anonymous(this=function, expressions=[lit(lock_id(key))]))


def _retyped(expression: exp.Expression) -> exp.Expression:
    """A copy of ``expression`` with the PostgreSQL spelling of each overridden type."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DataType) and node.this in TYPE_OVERRIDES:
            return exp.DataType(this=TYPE_OVERRIDES[node.this], expressions=node.expressions)
        return node

    return expression.transform(swap)


_TYPES = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname = :name AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# Views are rules in pg_rewrite; each depends on the relations it reads (pg_depend).
_VIEWS = """
SELECT DISTINCT vn.nspname, v.relname, pg_get_viewdef(v.oid)
FROM pg_catalog.pg_depend AS d
JOIN pg_catalog.pg_rewrite AS r ON r.oid = d.objid
JOIN pg_catalog.pg_class AS v ON v.oid = r.ev_class
JOIN pg_catalog.pg_namespace AS vn ON vn.oid = v.relnamespace
JOIN pg_catalog.pg_class AS t ON t.oid = d.refobjid
JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
WHERE tn.nspname = :schema AND t.relname = :name AND v.oid <> t.oid AND v.relkind = 'v'
"""


def _types_query(name: str, schema: str) -> exp.Expression:
    return _catalog_query(_TYPES, schema, name)


def _views_query(schema: str, name: str) -> exp.Expression:
    return _catalog_query(_VIEWS, schema, name)


def _catalog_query(text: str, schema: str, name: str) -> exp.Expression:
    """A catalog query, parsed, with the relation's schema and name as literals."""
    query = exp.replace_placeholders(
        sqlglot.parse_one(text, read="postgres"), schema=lit(schema), name=lit(name)
    )
    assert isinstance(query, exp.Expression)
    return query


def _missing(existing: dict[str, str], columns: Sequence[tuple[str, exp.DataType]]) -> bool:
    known = {c.lower() for c in existing}
    return any(name.lower() not in known for name, _ in columns)


# --------------------------------------------------------------------------- CSV for COPY


def _csv_options(column_count: int) -> pacsv.WriteOptions:
    # COPY reads a line holding only \. as the end of the data unless it is quoted, and a
    # one-column row is the whole line: quote every value there.
    quoting = "all_valid" if column_count == 1 else "needed"
    return pacsv.WriteOptions(include_header=False, quoting_style=quoting)


def csv_chunk(batch: pa.RecordBatch, options: pacsv.WriteOptions) -> memoryview:
    """One batch as COPY CSV: NULL is an empty field, the empty string is ``""``."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(_plain(batch), sink, options)
    return memoryview(sink.getvalue())


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with extension types (arrow.json) as their storage and dictionaries decoded."""
    arrays = [
        _plain_array(array, field) for array, field in zip(batch.columns, batch.schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _plain_array(array: pa.Array, field: pa.Field) -> pa.Array:
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_timestamp(array.type) and array.type.tz not in (None, "UTC"):
        # The CSV writer spells a zone's local time with its offset in whole minutes: an
        # instant in a zone whose offset had seconds (Asia/Kolkata in 1900: +05:21:10)
        # would lose them. In UTC it is written as it is; the instant is the same.
        array = array.cast(pa.timestamp(array.type.unit, "UTC"))
    if pa.types.is_nested(array.type):
        raise WarehouseError(
            f"column {field.name!r} has the nested type {array.type}, which cannot be copied"
            " into PostgreSQL; map it to json text first"
        )
    return array


# --------------------------------------------------------------------------- connections


def endpoint(url: str) -> Endpoint:
    """Host, port, database and user of a URL or keyword string, with libpq's defaults."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        # A URL libpq cannot decode still names its server, which the message must show.
        parts = _url_parts(url) if "://" in url else _keyword_parts(url)
    user = str(parts.get("user") or os.environ.get("PGUSER") or _login())
    return Endpoint(
        scheme="postgres",
        host=str(parts.get("host") or os.environ.get("PGHOST") or "localhost"),
        port=str(parts.get("port") or os.environ.get("PGPORT") or "5432"),
        database=str(parts.get("dbname") or os.environ.get("PGDATABASE") or user),
        user=user,
    )


def _url_parts(url: str) -> dict[str, str | int | None]:
    """Host, port, database and user of a URL libpq refuses, read as leniently as can be."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    first = hosts.split(",")[0]  # libpq takes a list of hosts
    host, _, port = first.rpartition(":") if ":" in first.rpartition("]")[2] else (first, "", "")
    return {
        "user": unquote(userinfo.partition(":")[0]),
        "host": unquote(host.strip("[]")),
        "port": port,
        "dbname": unquote(parts.path.lstrip("/")),
    }


_KEYWORD_PAIR = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)")


def _keyword_parts(text: str) -> dict[str, str | int | None]:
    """The keywords of a libpq keyword string libpq refuses (an unclosed quote, say)."""
    return {k: v.strip("'") for k, v in _KEYWORD_PAIR.findall(text) if k != "password"}


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "postgres"


def _conninfo(url: str) -> str:
    """The URL with tidegate's defaults where it sets none; COPY sends UTF-8, always."""
    given = psycopg.conninfo.conninfo_to_dict(url)
    defaults: dict[str, str | int] = {
        "application_name": "tidegate",
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }
    extra = {k: v for k, v in defaults.items() if k not in given}
    return psycopg.conninfo.make_conninfo(url, client_encoding="utf8", **extra)


def _reason(exc: psycopg.Error, url: str) -> str:
    """libpq's reason in one line, without the password wherever libpq echoed the URL."""
    problem = url_problem(url) if URL_SCHEME.match(url) else None
    if problem is not None:  # libpq would quote the bad escape, and the text around it
        return f"warehouse.url in tidegate.yml: {problem}"
    line = first_line(exc)
    line = line.rsplit(" failed: ", 1)[-1]
    line = re.sub(r"^(FATAL|ERROR):\s+", "", line)
    return redact(line, url)


def redact(text: str, url: str) -> str:
    """``text`` with the URL's password (as written and decoded) replaced by ``***``.

    >>> redact("bad url postgres://u:s3cret@h/db", "postgres://u:s3cret@h/db")
    'bad url postgres://u:***@h/db'
    """
    text = hide_passwords(text)
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> list[str]:
    found: list[str] = []
    with suppress(psycopg.Error):
        found.append(str(psycopg.conninfo.conninfo_to_dict(url).get("password") or ""))
    if "://" in url:
        raw = urlsplit(url).netloc.rpartition("@")[0].partition(":")[2]
        found += [raw, unquote(raw)]
    return [p for p in found if p]


def _is_transient(exc: psycopg.Error, con: psycopg.Connection[Row] | None) -> bool:
    state = exc.sqlstate or ""
    if state in TRANSIENT_SQLSTATES or state.startswith(CONNECTION_SQLSTATE_CLASS):
        return True
    lost = con is None or con.closed or con.broken or _bad(con)
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and lost


def _bad(con: psycopg.Connection[Row]) -> bool:
    return con.pgconn.status == pq.ConnStatus.BAD


def _copy_context(exc: psycopg.Error) -> str:
    """Where in a COPY the bad value was (``COPY t, line 3, column amount: "x"``)."""
    context = (exc.diag.context or "").strip()
    return f" ({context.splitlines()[0]})" if context.startswith("COPY") else ""
