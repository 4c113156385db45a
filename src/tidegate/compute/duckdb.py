"""The DuckDB engine: in this process, in memory, spilling to the project's scratch folder.

The one module of tidegate's computing that imports duckdb (the DuckDB warehouse adapter
shares its connection through ``DuckDBEngine(con, owned=False)``). Every ``Engine`` method
renders its sqlglot tree in the duckdb dialect here; DuckDB's own table functions
(``sniff_csv``, ``read_json_objects``, ``read_parquet``) and its relation API stay inside.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from tidegate.compute.engine import (
    BATCH_ROWS,
    DelimitedRead,
    DelimitedSniff,
    ErrorKind,
    JsonRead,
    ParquetRead,
    RejectedLine,
    Row,
    SniffedDialect,
    WorkRelation,
    reason_of,
)
from tidegate.compute.work import temp_create
from tidegate.errors import ComputeError, TidegateError, TransientComputeError
from tidegate.sql import col, lit, table

DIALECT = "duckdb"
# The sniffer's words for record endings, and for a quote or escape it did not see.
NEWLINES = {"\\n": "\n", "\\r\\n": "\r\n", "\\r": "\r"}
SNIFFED_EMPTY = "(empty)"
# The endings DuckDB takes as an option; a file of CR alone is left to its detection.
LINE_TERMINATORS = {"\n": "\\n", "\r\n": "\\r\\n"}
POSITION = "file_row_number"
# See DuckDBEngine._tune.
SESSION = {"disabled_optimizers": "common_subexpressions,projection_placement"}
# Each column of a file being read holds buffers of its own whatever the rows: reading 3
# rows of 10,000 columns needs 1.3 GB (128 KB a column, measured with DuckDB 2.0).
# ``memory_limit`` is for the data; a delimited read raises the limit by this much for each
# of its columns.
COLUMN_ALLOWANCE = 256 * 1024
_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)

# Raised whatever the data: retrying may help, or the engine itself is short of something.
_TRANSIENT = (duckdb.TransactionException, duckdb.SerializationException)
_RESOURCE = (
    duckdb.IOException,
    duckdb.PermissionException,
    duckdb.InterruptException,
)
# Raised by a value of the file: the same expression runs on other files.
_DATA = (duckdb.DataError, duckdb.InvalidInputException)
# Raised while binding: the expression cannot run on any file of this shape.
_BIND = (duckdb.ProgrammingError, duckdb.NotSupportedError, duckdb.DependencyException)
_KINDS: tuple[tuple[tuple[type[BaseException], ...], ErrorKind], ...] = (
    (_TRANSIENT, "transient"),
    ((duckdb.OutOfMemoryException,), "memory"),
    (_RESOURCE, "resource"),
    (_DATA, "data"),
    (_BIND, "bind"),
)


def size_in_bytes(text: str) -> int | None:
    """``memory_limit`` as DuckDB reads it (``1GB``, ``512 MiB``), in bytes; None for a
    value this does not know (left to DuckDB as given)."""
    match = _SIZE.fullmatch(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    return None if match is None or unit is None else int(float(match.group(1)) * unit)


def connect(root: Path | None = None, memory_limit: str = "1GB") -> DuckDBEngine:
    """An in-memory engine that spills to the project's scratch folder, never to ``~``.

    The memory limit keeps a large file from holding the machine: past it, work tables
    spill to disk instead of growing the process. Without ``root``, a throwaway engine
    for a quick look at a file (peeking at its columns).
    """
    if root is None:
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
        return DuckDBEngine(con, memory_limit=memory_limit)
    scratch = root / ".tidegate"
    scratch.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            "temp_directory": str(scratch / "spill"),
            "memory_limit": memory_limit,
            "extension_directory": str(scratch / "extensions"),
            "autoinstall_known_extensions": False,
        },
    )
    engine = DuckDBEngine(con, memory_limit=memory_limit)
    engine.measure()
    return engine


def type_of(name: str) -> exp.DataType:
    """A DuckDB type name as a sqlglot type, a fresh node each time: parsed once per name
    (a file of 10,000 text columns asks for VARCHAR 10,000 times)."""
    return _parsed_type(name).copy()


@functools.lru_cache(maxsize=256)
def _parsed_type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect=DIALECT)


class DuckDBEngine:
    """``Engine`` over one DuckDB connection; ``owned=False`` for a connection that belongs
    to someone else (the DuckDB warehouse's file), which ``close`` leaves open."""

    ERRORS: tuple[type[BaseException], ...] = (duckdb.Error,)

    def __init__(
        self, con: duckdb.DuckDBPyConnection, *, owned: bool = True, memory_limit: str = ""
    ) -> None:
        self._con = con
        self._owned = owned
        self.memory_limit = memory_limit
        self._base_bytes = size_in_bytes(memory_limit) if memory_limit else None
        self._limit_bytes = self._base_bytes
        self._columns = 0  # of the file read last, each allowed COLUMN_ALLOWANCE
        self._tune()

    def _tune(self) -> None:
        """Session settings every statement of tidegate's runs under.

        Two of DuckDB's optimizer passes take time superlinear in the expressions of one
        projection, whether or not they find anything to change: planning the typed rows
        of a file of 10,000 columns took 64 s of CPU with both, 18.6 s without the
        common-subexpression pass and 6.3 s without projection placement as well.
        tidegate's own queries compute each expression once (a cast reads its text from
        a layer of its own, ``mapping.typed``) and are projections over one scan, so
        neither pass has much to gain in any file.
        """
        for name, value in SESSION.items():
            setting = exp.EQ(this=exp.column(name), expression=lit(value))
            self.execute(exp.Set(expressions=[exp.SetItem(this=setting)]))

    @property
    def dialect(self) -> str:
        return DIALECT

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return self.ERRORS

    def shares(self, con: object) -> bool:
        """Whether this engine runs on ``con`` (the DuckDB warehouse inserts its rows itself)."""
        return con is self._con

    # ------------------------------------------------------------------ statements

    def _sql(self, statement: exp.Expr | str) -> str:
        return statement if isinstance(statement, str) else statement.sql(dialect=DIALECT)

    def execute(self, statement: exp.Expr | str, params: Sequence[Any] = ()) -> list[Row]:
        sql = self._sql(statement)
        result = self._con.execute(sql, list(params)) if params else self._con.execute(sql)
        return result.fetchall() if result.description else []

    def execute_many(self, statement: exp.Expr, rows: Sequence[Sequence[Any]]) -> None:
        self._con.executemany(self._sql(statement), [list(row) for row in rows])

    def fetch_arrow(self, query: exp.Query) -> pa.Table:
        return self._con.sql(self._sql(query)).to_arrow_table()

    def batches(self, query: exp.Query, rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
        return self._con.sql(self._sql(query)).to_arrow_reader(rows)

    # ------------------------------------------------------------------ work relations

    def create(self, name: str, source: exp.Query | pa.Table, *, view: bool = False) -> None:
        if isinstance(source, exp.Expr):
            self.execute(temp_create(name, source, "VIEW" if view else "TABLE"))
            return
        staged = f"{name}_arrow"
        self._con.register(staged, source)
        try:
            self.execute(temp_create(name, exp.select(exp.Star()).from_(table(staged))))
        finally:
            self._con.unregister(staged)

    def append(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        self._con.from_arrow(data).insert_into(name)

    def drop(self, *names: str) -> None:
        if not names:
            return
        views = {r.name for r in self.work_relations() if r.view}
        for name in names:
            kind = "VIEW" if name in views else "TABLE"
            self.execute(exp.Drop(tables=[table(name)], kind=kind, exists=True))

    def work_relations(self) -> list[WorkRelation]:
        found: list[WorkRelation] = []
        for catalog, column, view in (
            ("duckdb_views", "view_name", True),
            ("duckdb_tables", "table_name", False),
        ):
            query = (
                exp.select(col(column))
                .from_(exp.Anonymous(this=catalog))
                .where(exp.and_(col("temporary"), exp.not_(col("internal"))))
            )
            found += [WorkRelation(str(name), view) for (name,) in self.execute(query)]
        return found

    def columns(self, name: str) -> list[tuple[str, exp.DataType]]:
        """From the catalog (``pragma_table_info`` finds the name as ``DESCRIBE`` does, and
        says the same when there is none): ``DESCRIBE`` binds the relation, which took
        0.8 s of CPU for a read table of 10,000 columns; the catalog answers in milliseconds.
        """
        quoted = lit(self._sql(table(name)))  # the function reads a (qualified) name
        info = exp.Anonymous(this="pragma_table_info", expressions=[quoted])
        rows = self.execute(exp.select(col("name"), col("type")).from_(exp.Table(this=info)))
        return [(str(r[0]), type_of(str(r[1]))) for r in rows]

    def register(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        self._con.register(name, data)

    def unregister(self, name: str) -> None:
        self._con.unregister(name)

    # ------------------------------------------------------------------ reading files

    def sniff_delimited(self, sniff: DelimitedSniff) -> SniffedDialect | None:
        named: dict[str, Any] = {
            "delim": sniff.delimiter,
            "quote": sniff.quote,
            "escape": sniff.escape,
            "header": sniff.header,
            "skip": sniff.skip_rows,
            "compression": sniff.compression,
            # Without it, ragged rows make the sniffer settle on one column.
            "ignore_errors": True,
        }
        given = {name: value for name, value in named.items() if value is not None}
        options = [
            exp.PropertyEQ(this=exp.to_identifier(name), expression=exp.Placeholder())
            for name in given
        ]
        call = exp.Anonymous(this="sniff_csv", expressions=[exp.Placeholder(), *options])
        query = exp.select(exp.Star()).from_(exp.Table(this=call))
        try:
            cursor = self._con.execute(self._sql(query), [sniff.path, *given.values()])
            row = cursor.fetchall()[0]
        except duckdb.Error:
            return None
        seen = {
            str(column[0]): None if value == SNIFFED_EMPTY else value
            for column, value in zip(cursor.description or [], row, strict=True)
        }
        return SniffedDialect(
            delimiter=seen["Delimiter"],
            quote=seen["Quote"],
            escape=seen["Escape"],
            newline=NEWLINES.get(str(seen["NewLineDelimiter"])),
            width=len(seen["Columns"] or []) or 1,
        )

    def _allow_columns(self, columns: int) -> None:
        """The memory limit for the work on a file of this many columns, kept until the
        next read (see ``COLUMN_ALLOWANCE``)."""
        if self._base_bytes is None:
            return
        wanted = self._base_bytes + columns * COLUMN_ALLOWANCE
        if wanted != self._limit_bytes:
            setting = exp.EQ(this=exp.column("memory_limit"), expression=lit(f"{wanted}B"))
            self.execute(exp.Set(expressions=[exp.SetItem(this=setting)]))
            self._limit_bytes = wanted
        self._columns = columns

    def _limit_said(self) -> str:
        if not self.memory_limit:
            return ""
        if self._limit_bytes is None or self._limit_bytes == self._base_bytes:
            return f" (memory_limit {self.memory_limit})"
        allowance = f"{COLUMN_ALLOWANCE // 1024} KB for each of the file's {self._columns} columns"
        return f" (memory_limit {self.memory_limit} and {allowance})"

    def read_delimited(self, read: DelimitedRead, into: str | exp.Table) -> list[RejectedLine]:
        self._allow_columns(len(read.columns))
        prefix = into if isinstance(into, str) else f"_tg_{into.name}"
        errors, scans = f"{prefix}_rejects", f"{prefix}_scans"
        try:
            relation = self._con.read_csv(
                read.path,
                **self._csv_arguments(read),
                store_rejects=True,
                rejects_table=errors,
                rejects_scan=scans,
            )
            if read.numbered is None:
                row = duckdb.lit(None).cast(duckdb.sqltypes.BIGINT).alias("_row")
                relation.select(row, duckdb.StarExpression()).insert_into(str(into))
            else:
                self._insert_numbered(relation, read, into, f"{prefix}_scan")
            return self._rejects(errors)
        finally:
            self._drop_after(sys.exc_info()[1], "TABLE", errors, scans)

    def _insert_numbered(
        self,
        relation: duckdb.DuckDBPyRelation,
        read: DelimitedRead,
        into: str | exp.Table,
        scan: str,
    ) -> None:
        """``INSERT INTO into (constants, numbered, columns) SELECT ..., row_number() OVER
        (), ... FROM the scan``: a window without order or partition streams, numbering
        the records in the order the reader gives them, which is file order."""
        assert read.numbered is not None
        number = exp.Window(this=exp.RowNumber())
        values = [lit(value) for _, value in read.constants] + [number]
        values += [col(name) for name in read.columns]
        names = [name for name, _ in read.constants] + [read.numbered, *read.columns]
        target = table(into) if isinstance(into, str) else into.copy()
        select = exp.select(*values, copy=False).from_(table(scan), copy=False)
        names_of = [exp.to_identifier(n, quoted=True) for n in names]
        insert = exp.insert(select, target, columns=names_of, copy=False)
        relation.create_view(scan, replace=True)
        try:
            self.execute(insert)
        finally:
            self._drop_after(sys.exc_info()[1], "VIEW", scan)

    def _drop_after(self, failure: BaseException | None, kind: str, *names: str) -> None:
        """Drop a read's helper relations. After a ``failure`` the transaction may be
        aborted, refusing any statement until the rollback (which removes them): the
        failure is what the caller must see, not the refused drop."""
        for name in names:
            try:
                self.execute(exp.Drop(tables=[table(name)], kind=kind, exists=True))
            except duckdb.Error:
                if failure is None:
                    raise

    def _csv_arguments(self, read: DelimitedRead) -> dict[str, Any]:
        nulls: dict[str, Any] = (
            {"na_values": list(read.null)} if read.null else {"force_not_null": list(read.columns)}
        )
        known = LINE_TERMINATORS.get(read.newline or "")
        return {
            "header": read.header,
            "columns": {name: "VARCHAR" for name in read.columns},
            "delimiter": read.delimiter,
            "quotechar": read.quote,
            "escapechar": read.escape,
            "skiprows": read.skip_rows,
            # DuckDB's default (2 MB) would turn a long text field into a bad record.
            "max_line_size": read.max_line_bytes,
            # Its default buffer is 16 lines that long (1 GiB, allocated at once for a
            # compressed or large file): past a memory_limit of 1 GB. Two are enough.
            "buffer_size": 2 * read.max_line_bytes,
            # Given, not detected: a line break in a quoted header cell misleads the guess.
            **({} if known is None else {"lineterminator": known}),
            "compression": read.compression,
            # A landing path like date=2024-01-01/ must not add columns.
            "hive_partitioning": False,
            "auto_detect": False,
            "allow_quoted_nulls": True,
            # File order is what makes rowid the record order; without it read on one thread.
            "parallel": self._preserves_order(),
            **nulls,
        }

    def _preserves_order(self) -> bool:
        setting = exp.func("current_setting", exp.Literal.string("preserve_insertion_order"))
        return bool(self.execute(exp.select(setting))[0][0])

    def _rejects(self, errors: str) -> list[RejectedLine]:
        latest = exp.select(exp.func("max", col("scan_id"))).from_(table(errors))
        query = (
            exp.select(
                col("line"),
                col("line_byte_position"),
                exp.cast(col("error_type"), "VARCHAR"),
                col("csv_line"),
                col("error_message"),
            )
            .from_(table(errors))
            .where(col("scan_id").eq(exp.Subquery(this=latest)))
            .order_by(col("line"), col("byte_position"))
        )
        return [
            RejectedLine(int(line), int(offset), str(error), str(raw or ""), str(message))
            for line, offset, error, raw, message in self.execute(query)
        ]

    def read_json(self, read: JsonRead, into: str) -> bool:
        reader = exp.Table(
            this=exp.Anonymous(
                this="read_json_objects",
                expressions=[
                    exp.Placeholder(),
                    exp.PropertyEQ(this=exp.to_identifier("format"), expression=exp.Placeholder()),
                    exp.PropertyEQ(
                        this=exp.to_identifier("compression"), expression=exp.Placeholder()
                    ),
                    exp.PropertyEQ(
                        this=exp.to_identifier("hive_partitioning"), expression=exp.false()
                    ),
                ],
            )
        )
        reading = [read.path, read.shape, read.compression]
        value: exp.Expr = col("json")
        picking: list[Any] = []
        if read.pointer is not None:
            found = exp.func("json_extract", col("json"), exp.Placeholder())
            kinds = self.execute(
                exp.select(exp.func("json_type", found)).from_(reader), [read.pointer, *reading]
            )
            if not kinds or kinds[0][0] is None:
                return False
            items = exp.cast(found, exp.DataType.build("JSON[]", dialect=DIALECT))
            value = found if kinds[0][0] != "ARRAY" else exp.Unnest(expressions=[items])
            picking = [read.pointer]
        query = exp.select(exp.null(), exp.null(), exp.cast(value, "VARCHAR")).from_(reader)
        self.execute(exp.insert(query, table(into)), [*picking, *reading])
        return True

    def read_parquet(self, read: ParquetRead, into: str) -> None:
        reader = exp.Table(
            this=exp.Anonymous(
                this="read_parquet",
                expressions=[
                    exp.Placeholder(),
                    exp.PropertyEQ(this=exp.to_identifier(POSITION), expression=exp.true()),
                    exp.PropertyEQ(
                        this=exp.to_identifier("hive_partitioning"), expression=exp.false()
                    ),
                ],
            )
        )
        row = exp.cast(col(POSITION) + exp.Literal.number(1), "BIGINT")
        query = exp.select(
            exp.alias_(row, read.row, quoted=True),
            *(exp.alias_(col(old), new, quoted=True) for old, new in read.columns),
        ).from_(reader)
        self.execute(temp_create(into, query), [read.path])

    # ------------------------------------------------------------------ the engine itself

    def measure(self) -> None:
        """Have DuckDB keep track of each statement's progress, printing nothing itself."""
        for name, value in (("enable_progress_bar", True), ("enable_progress_bar_print", False)):
            setting = exp.EQ(this=exp.column(name), expression=lit(value))
            self.execute(exp.Set(expressions=[exp.SetItem(this=setting)]))

    def progress(self) -> float | None:
        percent = self._con.query_progress()
        return None if percent < 0 else float(percent)  # -1: between statements

    def kind(self, exc: BaseException) -> ErrorKind:
        for classes, kind in _KINDS:
            if isinstance(exc, classes):
                return kind
        return "internal"

    def translate(self, exc: BaseException, label: str) -> TidegateError:
        reason = reason_of(exc)
        kind = self.kind(exc)
        if kind == "transient":
            return TransientComputeError(f"{label}: the compute engine asks for a retry: {reason}")
        limit = self._limit_said()
        if kind == "memory":
            return ComputeError(
                f"{label}: the compute engine ran out of memory{limit}; a larger"
                f" memory_limit in tidegate.yml lets the next run load it: {reason}"
            )
        if kind == "resource":
            return ComputeError(f"{label}: the compute engine failed{limit}: {reason}")
        if kind == "internal":
            return ComputeError(f"{label}: internal error in the compute engine: {reason}")
        return ComputeError(f"{label}: the compute engine refused a statement: {reason}")

    def close(self) -> None:
        if self._owned:
            self._con.close()
