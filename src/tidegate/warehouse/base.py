"""The warehouse adapter contract.

One base class; abilities are class constants; a subclass overrides only what differs.
``execute`` is the one place SQL text is produced, rendered from a sqlglot tree in the
adapter's dialect. Driver errors are translated into ``tidegate.errors`` in ``_translate``.
"""

from __future__ import annotations

import hashlib
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeAlias, TypeVar

import pyarrow as pa
import sqlglot
from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.config.models import WarehouseConfig
from tidegate.errors import TransientWarehouseError
from tidegate.sql import col, column_defs, create_table, ident, lit, table

Row = tuple[Any, ...]
T = TypeVar("T")
BATCH_ROWS = 122_880


@dataclass(frozen=True)
class Rows:
    """The rows of a query in the compute engine, not yet fetched.

    A warehouse that is that engine (embedded DuckDB) inserts them with ``INSERT ... SELECT``;
    any other gets them streamed as Arrow batches.
    """

    con: Engine
    query: exp.Select

    @property
    def names(self) -> list[str]:
        return list(self.query.named_selects)

    def batches(self) -> pa.RecordBatchReader:
        return self.con.batches(self.query, BATCH_ROWS)


# What a loader receives: a query of the compute engine, or Arrow batches made in Python.
Batches: TypeAlias = Rows | pa.RecordBatchReader


@dataclass(frozen=True)
class Endpoint:
    """Where a server warehouse's URL points, for messages: everything but the password."""

    scheme: str
    host: str
    port: str
    database: str
    user: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.database}"


# Every adapter reads these ``warehouse:`` settings.
COMMON_SETTINGS = ("type", "path", "url", "schemas")


class Warehouse(ABC):
    """A connection to one warehouse, able to stage Arrow batches and run sqlglot trees."""

    NAME: ClassVar[str]
    DIALECT: ClassVar[str]
    SUPPORTS_TRANSACTIONS: ClassVar[bool] = True
    # One MERGE statement applies an upsert (``upsert``); without it, UPDATE then INSERT.
    SUPPORTS_MERGE: ClassVar[bool] = False
    MAX_IDENTIFIER_LENGTH: ClassVar[int] = 63

    # A load's joins (its rows against the target's versions) and the lookups of tables
    # that grow with the data (the subject index, by hash) use an index on the key
    # (``ensure_join_index``). DuckDB joins by hashing and never reads an index for a join,
    # it rewrites every index at each checkpoint, and a transaction that adds to an index
    # must hold it in memory: at 10M rows the subject index's alone outgrew the warehouse
    # connection's cap and the commit failed. There they only cost.
    JOIN_INDEXES: ClassVar[bool] = True

    # The planner needs statistics on work tables gathered by hand (``analyzed``):
    # PostgreSQL's autovacuum never sees temporary tables.
    ANALYZE_WORK_TABLES: ClassVar[bool] = False

    # The compute engine runs on this warehouse's own connection, so a read may put a
    # file's records straight into its raw layer, inside the file's transaction.
    READS_INTO_RAW: ClassVar[bool] = False

    # Models are views, unless a view cannot read another schema (then tables, remade).
    MODELS_AS_TABLES: ClassVar[bool] = False

    # Other processes may change the catalog (a server): forget it at every file.
    SHARED_CATALOG: ClassVar[bool] = False

    # The settings under ``warehouse:`` this adapter cannot work without, and those that
    # only it reads (beyond ``type``, ``path``, ``url`` and ``schemas``, which every
    # adapter takes); the config model asks the adapter (``settings_problem``).
    REQUIRED_SETTINGS: ClassVar[tuple[str, ...]] = ()
    OWN_SETTINGS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def settings_problem(cls, config: WarehouseConfig) -> str | None:
        """Why these ``warehouse:`` settings cannot work with this adapter, or None."""
        missing = [name for name in cls.REQUIRED_SETTINGS if not getattr(config, name)]
        if missing:
            return f"warehouse type {cls.NAME!r} needs {' and '.join(map(repr, missing))}"
        foreign = [
            name
            for name in type(config).model_fields
            if name not in COMMON_SETTINGS + cls.OWN_SETTINGS and getattr(config, name)
        ]
        if foreign:
            return (
                f"{', '.join(foreign)}: not a setting of warehouse type {cls.NAME!r}"
                f" (it reads {', '.join(COMMON_SETTINGS + cls.OWN_SETTINGS)})"
            )
        return None

    def __init__(self, config: WarehouseConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self.schemas = config.schemas
        self._catalog: dict[tuple[str, str], dict[str, str] | None] = {}
        self._types: dict[tuple[str, str], dict[str, exp.DataType] | None] = {}
        # Per type, not per column: a table of 10,000 columns has a handful of types.
        self._declared: dict[exp.DataType, exp.DataType] = {}
        self._parsed_types: dict[str, exp.DataType] = {}
        self._type_texts: dict[exp.DataType, str] = {}
        self._schemas: set[str] = set()

    # -- connection -------------------------------------------------------------------

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Warehouse:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def description(self) -> str:
        """Where this warehouse is, for messages; never includes a password."""
        return f"{self.NAME} warehouse"

    # -- SQL --------------------------------------------------------------------------

    def render(self, expression: exp.Expression) -> str:
        return expression.sql(dialect=self.DIALECT)

    def execute(self, expression: exp.Expression) -> list[Row]:
        """Run one statement and return its rows (empty for statements without rows)."""
        if isinstance(expression, exp.Create | exp.Alter | exp.Drop):
            for named in expression.find_all(exp.Table):
                self._catalog.pop((named.db, named.name), None)
                self._types.pop((named.db, named.name), None)
        return self._run(self.render(expression))

    @abstractmethod
    def _run(self, sql: str) -> list[Row]: ...

    def scalar(self, expression: exp.Expression) -> Any:
        rows = self.execute(expression)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self._run("BEGIN")
        try:
            yield
        except BaseException:
            self.forget_catalog()  # tables created or altered inside are gone again
            self._run("ROLLBACK")
            raise
        self._run("COMMIT")

    # -- tables -----------------------------------------------------------------------

    def ensure_schema(self, name: str) -> None:
        if name not in self._schemas:
            self._ensure_schema(name)
            self._schemas.add(name)

    def _ensure_schema(self, name: str) -> None:
        self.execute(exp.Create(this=table(name).this, kind="SCHEMA", exists=True))

    def columns_of(self, name: str, schema: str) -> dict[str, str] | None:
        """Column name -> type of an existing table, or None when it does not exist.

        Answers are kept until this connection changes the catalog or rolls back, and, when
        other processes may change it, until the next file (``file_started``).
        """
        key = (schema, name)
        if key not in self._catalog:
            self._catalog[key] = self._columns_of(name, schema)
        known = self._catalog[key]
        return dict(known) if known is not None else None

    def forget_catalog(self) -> None:
        self._catalog.clear()
        self._types.clear()
        self._schemas.clear()

    def file_started(self) -> None:
        """A new file's work begins (and may be retried from here)."""
        if self.SHARED_CATALOG:
            self.forget_catalog()

    def _columns_of(self, name: str, schema: str) -> dict[str, str] | None:
        query = (
            exp.select(col("column_name"), col("data_type"))
            .from_(table("columns", "information_schema"))
            .where(col("table_schema").eq(lit(schema)))
            .where(col("table_name").eq(lit(name)))
            .order_by(col("ordinal_position"))
        )
        rows = self.execute(query)
        return {str(r[0]): str(r[1]) for r in rows} if rows else None

    def ensure_table(
        self,
        name: str,
        schema: str,
        columns: Sequence[tuple[str, exp.DataType]],
        primary_key: Sequence[str] = (),
    ) -> list[str]:
        """Create the table, or add the columns it lacks. Returns the added column names."""
        existing = self.columns_of(name, schema)
        if existing is None:
            self.execute(create_table(table(name, schema), columns, primary_key))
            return []
        known = {c.lower() for c in existing}
        added = [(c, kind) for c, kind in columns if c.lower() not in known]
        for column, kind in added:
            self.add_column(name, schema, column, kind)
        return [c for c, _ in added]

    # How the raw layer's text columns are stored, where the warehouse can choose (None: as
    # any column). The records as read are written once and seldom read again.
    RAW_COMPRESSION: ClassVar[str | None] = None

    def ensure_raw(self, name: str, columns: Sequence[tuple[str, exp.DataType]]) -> list[str]:
        """``raw.<name>`` with these columns, or the ones it lacks (``ensure_table``); a new
        table's text columns other than the lineage take ``RAW_COMPRESSION``."""
        schema = self.schemas.raw
        self.ensure_schema(schema)
        if self.RAW_COMPRESSION is None or self.columns_of(name, schema) is not None:
            return self.ensure_table(name, schema, columns)
        packed = exp.ColumnConstraint(
            kind=exp.CompressColumnConstraint(this=exp.var(self.RAW_COMPRESSION))
        )
        create = create_table(table(name, schema), columns)
        text = {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT}
        for column in create.this.expressions:  # the type's enum: ``is_type`` builds types
            if column.name != "_file_id" and column.args["kind"].this in text:
                column.set("constraints", [packed.copy()])
        self.execute(create)
        return []

    def add_column(self, name: str, schema: str, column: str, kind: exp.DataType) -> None:
        alter = exp.Alter(
            this=table(name, schema),
            kind="TABLE",
            actions=[exp.ColumnDef(this=ident(column), kind=kind)],
        )
        self.execute(alter)

    # -- column types -------------------------------------------------------------------

    # The precision a DECIMAL without one gets, as the catalog then reports it (None: the
    # catalog keeps it unbounded, as PostgreSQL's NUMERIC).
    DEFAULT_DECIMAL: ClassVar[tuple[int, int] | None] = None

    def column_types(self, name: str, schema: str) -> dict[str, exp.DataType] | None:
        """Column name -> declared type of an existing table (None: no such table), in the
        form ``declared_type`` gives, so that the two compare; cached like ``columns_of``."""
        key = (schema, name)
        if key not in self._types:
            found = self._column_types(name, schema)
            self._types[key] = (
                None if found is None else {c: self.parse_type(t) for c, t in found.items()}
            )
        known = self._types[key]
        return dict(known) if known is not None else None

    def _column_types(self, name: str, schema: str) -> dict[str, str] | None:
        """Column name -> the catalog's text of its type, precision and length included."""
        return self.columns_of(name, schema)

    def parse_type(self, text: str) -> exp.DataType:
        """A type as the catalog spells it, in a form that compares with ``declared_type``
        (parsed once per spelling; a fresh node each time)."""
        if text not in self._parsed_types:
            parsed = exp.DataType.build(text, dialect=self.DIALECT, udt=True)
            self._parsed_types[text] = self._normal(parsed)
        return self._parsed_types[text].copy()

    def declared_type(self, kind: exp.DataType) -> exp.DataType:
        """The type this warehouse gives a column declared as ``kind`` (a target type),
        found by rendering a ``CREATE TABLE`` exactly as tables are created (once per type:
        sqlglot nodes compare and hash by their tree)."""
        if kind not in self._declared:
            self._declared[kind.copy()] = self._declare(kind)
        return self._declared[kind]

    def _declare(self, kind: exp.DataType) -> exp.DataType:
        created = sqlglot.parse_one(
            self.render(create_table(table("_tg_t"), [("c", kind)])), read=self.DIALECT
        )
        column = created.find(exp.ColumnDef)
        found = column.args.get("kind") if column is not None else None
        if not isinstance(found, exp.DataType):
            return kind
        return self._normal(found)

    def type_text(self, kind: exp.DataType) -> str:
        return kind.sql(dialect=self.DIALECT)

    def same_type(self, left: exp.DataType, right: exp.DataType) -> bool:
        return self._text_of(left).upper() == self._text_of(right).upper()

    def _text_of(self, kind: exp.DataType) -> str:
        """``type_text``, rendered once per type."""
        if kind not in self._type_texts:
            self._type_texts[kind.copy()] = self.type_text(kind)
        return self._type_texts[kind]

    def _normal(self, kind: exp.DataType) -> exp.DataType:
        if kind.this == exp.DType.DECIMAL and not kind.expressions and self.DEFAULT_DECIMAL:
            precision, scale = self.DEFAULT_DECIMAL
            return exp.DataType.build(f"DECIMAL({precision}, {scale})")
        return kind

    def alter_types(
        self, name: str, schema: str, changes: Sequence[tuple[str, exp.DataType]]
    ) -> None:
        """Give existing columns new types, converting their values, in the caller's
        transaction. Each warehouse does it its own way; this is the standard statement."""
        for column, kind in changes:
            self.execute(alter_column(table(name, schema), column, kind))

    def rebuild(self, name: str, schema: str, changes: Sequence[tuple[str, exp.DataType]]) -> None:
        """Give columns new types by copying the table: a new one with the new types, every
        row converted into it, the old one dropped and the new one renamed in its place.

        For warehouses that cannot alter a column's type where it is (SQLite), or not
        while an index covers the table (DuckDB). Indexes are made again by the caller.
        """
        existing = self.column_types(name, schema)
        if existing is None:
            return
        wanted = dict(changes)
        columns = [(c, wanted.get(c, kind)) for c, kind in existing.items()]
        interim = f"{name}__tg_rebuild"
        self.execute(exp.Drop(tables=[table(interim, schema)], kind="TABLE", exists=True))
        self.execute(create_table(table(interim, schema), columns))
        values = [exp.cast(col(c), kind) if c in wanted else col(c) for c, kind in columns]
        copy = exp.select(*values).from_(table(name, schema))
        self.execute(
            exp.insert(copy, table(interim, schema), columns=[ident(c) for c, _ in columns])
        )
        self.execute(exp.Drop(tables=[table(name, schema)], kind="TABLE"))
        rename = exp.AlterRename(this=table(name))
        self.execute(exp.Alter(this=table(interim, schema), kind="TABLE", actions=[rename]))

    def indexes_of(self, name: str, schema: str) -> dict[str, list[str]]:
        """Index name -> its columns, of one table (an empty dict where indexes are unknown)."""
        return {}

    def count(self, name: str, schema: str, where: exp.Expression | None = None) -> int:
        query = exp.select(exp.Count(this=exp.Star())).from_(table(name, schema))
        if where is not None:
            query = query.where(where)
        return int(self.scalar(query) or 0)

    # -- bulk -------------------------------------------------------------------------

    def engine(self, memory_limit: str) -> Engine | None:
        """This warehouse's own connection when it can be the compute engine too (then rows
        move by ``INSERT ... SELECT``, never through Python); None for a separate engine."""
        return None

    def write(self, name: str, schema: str, rows: Batches) -> int:
        """Append rows to an existing table, matching columns by name; the rows written."""
        if isinstance(rows, Rows):
            return self.write_rows(name, schema, rows)
        return self.write_arrow(name, schema, rows)

    def write_rows(self, name: str, schema: str, rows: Rows) -> int:
        return self.write_arrow(name, schema, rows.batches())

    @abstractmethod
    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        """Append every batch to an existing table, matching columns by name.

        Streams: never holds the whole input in memory. Returns the rows written.
        """

    # -- staging ----------------------------------------------------------------------

    # Where this session's temporary tables live (PostgreSQL: ``pg_temp``).
    TEMP_SCHEMA: ClassVar[str] = "temp"

    def temp_table(self, name: str) -> exp.Table:
        """A session-private table; dropped at the latest when the connection closes."""
        return table(name, self.TEMP_SCHEMA)

    def drop_temp(self, name: str) -> None:
        self.execute(exp.Drop(tables=[self.temp_table(name)], kind="TABLE", exists=True))

    def create_temp(self, name: str, query: exp.Query) -> exp.Table:
        """``CREATE TEMPORARY TABLE name AS query``, replacing an earlier one."""
        self.drop_temp(name)
        temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
        into = self.temp_table(name)
        self.execute(exp.Create(this=into, kind="TABLE", expression=query, properties=temporary))
        return into

    def stage(
        self,
        name: str,
        columns: Sequence[tuple[str, exp.DataType]],
        rows: Batches,
    ) -> exp.Table:
        """Write the rows to a new temporary table of these columns; returns the table."""
        self.drop_temp(name)
        temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
        into = self.temp_table(name)
        schema = exp.Schema(this=into, expressions=column_defs(columns))
        self.execute(exp.Create(this=schema, kind="TABLE", properties=temporary))
        self.write(name, self.TEMP_SCHEMA, rows)
        return into

    def ensure_index(self, name: str, schema: str, index: str, columns: Sequence[str]) -> None:
        """``CREATE INDEX IF NOT EXISTS``; ``index`` is shortened to fit identifier limits."""
        params = exp.IndexParameters(columns=[col(c) for c in columns])
        named = ident(self.index_name(index))
        node = exp.Index(this=named, table=table(name, schema), params=params)
        self.execute(exp.Create(this=node, kind="INDEX", exists=True))

    def keyed(self, name: str, schema: str, key: Sequence[str]) -> None:
        """Say, before a table is made or loaded, that its rows are found and changed by
        ``key`` (merge and scd2 targets). A warehouse that lays rows out by key keeps it
        (Spark: key buckets, so that a change rewrites only the buckets of its keys); the
        others find rows by index (``ensure_join_index``) and need nothing."""
        return None

    def ensure_join_index(self, name: str, schema: str, index: str, columns: Sequence[str]) -> None:
        """An index that serves a load's joins or lookups where they read indexes
        (``JOIN_INDEXES``); elsewhere the index is dropped, so that an older one costs
        nothing more."""
        if self.JOIN_INDEXES:
            self.ensure_index(name, schema, index, columns)
        else:
            self.drop_index(name, schema, index)

    def analyzed(self, made: exp.Table) -> exp.Table:
        """``made``, with statistics where the planner needs them to join a work table
        (``ANALYZE_WORK_TABLES``). Without them PostgreSQL may sort a whole target to merge
        it with a few rows, or expect one row and loop."""
        if self.ANALYZE_WORK_TABLES:
            self.execute(exp.Analyze(tables=[made.copy()]))
        return made

    def upsert(
        self,
        into: exp.Table,
        source: exp.Table,
        key: Sequence[str],
        matched: Sequence[tuple[exp.Expr, dict[str, exp.Expr]]],
        columns: Sequence[str],
    ) -> None:
        """Apply ``source`` (aliased ``_tg_s``) to ``into`` (aliased ``_tg_t``) by ``key``:
        each ``(condition, {column: value})`` of ``matched`` updates the rows it matches,
        and source rows without a match are inserted (``columns``). The conditions must
        exclude one another: MERGE takes the first that holds, UPDATE after UPDATE would
        see the earlier one's changes. One MERGE where the warehouse has it
        (``SUPPORTS_MERGE``), else one UPDATE per condition and one INSERT."""
        if self.SUPPORTS_MERGE:
            self.execute(merge_statement(into, source, key, matched, columns))
            return
        for statement in upsert_statements(into, source, key, matched, columns):
            self.execute(statement)

    def drop_index(self, name: str, schema: str, index: str) -> None:
        """``DROP INDEX IF EXISTS``; the index is named in the table's schema."""
        named = table(self.index_name(index), schema)
        self.execute(exp.Drop(tables=[named], kind="INDEX", exists=True))

    def index_name(self, name: str) -> str:
        if len(name) <= self.MAX_IDENTIFIER_LENGTH:
            return name
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        return f"{name[: self.MAX_IDENTIFIER_LENGTH - 9]}_{digest}"

    def lock(self, key: str) -> bool:
        """Take a session lock on ``key`` (a file's content hash); False if another run has it.

        Embedded warehouses are opened by one process at a time, so the lock is free.
        """
        return True

    def unlock(self, key: str) -> None:
        return None

    # -- storage ----------------------------------------------------------------------

    def forget_bytes(self, tables: Sequence[tuple[str, str]]) -> bool:
        """Rewrite the storage of ``tables`` ((schema, name) pairs) so that the bytes of rows
        deleted or updated before are gone from the warehouse's files, not only from its
        queries; called outside any transaction, after an erasure committed.

        Each adapter knows its storage: DuckDB copies the whole file, SQLite vacuums,
        PostgreSQL rewrites the tables. False means this adapter cannot, and the erasure
        says so; an adapter for another engine (Spark: rewrite the tables' files) overrides
        this.
        """
        return False

    # -- retries ----------------------------------------------------------------------

    RETRY_ATTEMPTS: ClassVar[int] = 4
    RETRY_DELAY_SECONDS: ClassVar[float] = 0.5

    def retry(self, work: Callable[[], T], attempts: int | None = None) -> T:
        """Run ``work``; after a transient error, recover and run it again, waiting longer.

        ``work`` should be one whole transaction (a file with its ledger row), so that every
        attempt starts from nothing; it should re-read what it depends on (the ledger), since
        another run may have acted in between. The last error is raised when all attempts fail.
        """
        for attempt in range(1, attempts or self.RETRY_ATTEMPTS):
            try:
                return work()
            except TransientWarehouseError:
                time.sleep(self.RETRY_DELAY_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
                self.recover()
        return work()

    def recover(self) -> None:
        """Make the connection usable again after a transient error.

        Embedded warehouses keep their connection; server adapters reconnect when it was lost.
        """
        return None


def alter_column(target: exp.Table, column: str, kind: exp.DataType) -> exp.Alter:
    """``ALTER TABLE t ALTER COLUMN c SET DATA TYPE kind USING CAST(c AS kind)``.

    >>> alter_column(table("t", "s"), "c", exp.DataType.build("bigint")).sql("postgres")
    'ALTER TABLE "s"."t" ALTER COLUMN "c" SET DATA TYPE BIGINT USING CAST("c" AS BIGINT)'
    """
    action = exp.AlterColumn(this=ident(column), dtype=kind, using=exp.cast(col(column), kind))
    return exp.Alter(this=target, kind="TABLE", actions=[action])


# --------------------------------------------------------------------------- upserts

UPSERT_TARGET, UPSERT_SOURCE = "_tg_t", "_tg_s"


def _on_key(key: Sequence[str]) -> exp.Expr:
    return exp.and_(*[col(k, UPSERT_TARGET).eq(col(k, UPSERT_SOURCE)) for k in key])


def merge_statement(
    into: exp.Table,
    source: exp.Table,
    key: Sequence[str],
    matched: Sequence[tuple[exp.Expr, dict[str, exp.Expr]]],
    columns: Sequence[str],
) -> exp.Merge:
    """``MERGE INTO into AS _tg_t USING source AS _tg_s ON key ...``.

    >>> merge_statement(table("t"), table("s"), ["k"], [], ["k"]).sql("postgres")
    'MERGE INTO "t" AS "_tg_t" USING "s" AS "_tg_s" ON "_tg_t"."k" = "_tg_s"."k" WHEN NOT MATCHED THEN INSERT ("k") VALUES ("_tg_s"."k")'
    """
    whens = [
        exp.When(
            matched=True,
            condition=condition.copy(),
            then=exp.Update(
                expressions=[exp.EQ(this=col(c), expression=v.copy()) for c, v in setting.items()]
            ),
        )
        for condition, setting in matched
    ]
    insert = exp.Insert(
        this=exp.Tuple(expressions=[col(c) for c in columns]),
        expression=exp.Tuple(expressions=[col(c, UPSERT_SOURCE) for c in columns]),
    )
    whens.append(exp.When(matched=False, then=insert))
    return exp.Merge(
        this=exp.alias_(into.copy(), UPSERT_TARGET, table=True, quoted=True),
        using=exp.alias_(source.copy(), UPSERT_SOURCE, table=True, quoted=True),
        on=_on_key(key),
        whens=exp.Whens(expressions=whens),
    )


def _by_full_name(expression: exp.Expr, into: exp.Table) -> exp.Expr:
    """Columns of ``_tg_t`` named by the table's full name, as every UPDATE accepts."""

    def rename(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.table == UPSERT_TARGET:
            return exp.column(node.name, into.name, db=into.db or None, quoted=True)
        return node

    return expression.copy().transform(rename)


def upsert_statements(
    into: exp.Table,
    source: exp.Table,
    key: Sequence[str],
    matched: Sequence[tuple[exp.Expr, dict[str, exp.Expr]]],
    columns: Sequence[str],
) -> list[exp.Expression]:
    """The same change as ``merge_statement``, as UPDATE ... FROM per condition, then an
    INSERT of the source rows without a match."""
    statements: list[exp.Expression] = []
    for condition, setting in matched:
        statements.append(
            exp.Update(
                this=into.copy(),
                expressions=[exp.EQ(this=col(c), expression=v.copy()) for c, v in setting.items()],
                from_=exp.From(
                    this=exp.alias_(source.copy(), UPSERT_SOURCE, table=True, quoted=True)
                ),
                where=exp.Where(this=_by_full_name(exp.and_(_on_key(key), condition), into)),
            )
        )
    present = (
        exp.select(exp.Literal.number(1))
        .from_(exp.alias_(into.copy(), UPSERT_TARGET, table=True, quoted=True))
        .where(_on_key(key))
    )
    query = (
        exp.select(*[col(c, UPSERT_SOURCE) for c in columns])
        .from_(exp.alias_(source.copy(), UPSERT_SOURCE, table=True, quoted=True))
        .where(exp.not_(exp.Exists(this=present)))
    )
    statements.append(
        exp.insert(query, into.copy(), columns=[exp.to_identifier(c, quoted=True) for c in columns])
    )
    return statements
