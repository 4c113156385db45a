"""The compute engine seam: what tidegate asks of the engine that reads, maps and checks.

Reading a file, mapping its records and checking them run in a compute engine; the
warehouse adapter only applies the typed rows it is handed. ``Engine`` is everything the
rest of tidegate may ask of that engine, so that DuckDB in this process and Spark on a
cluster are interchangeable:

- statements are sqlglot trees, rendered by the engine in its own ``dialect``; no SQL text
  and no connection object crosses the seam (a remote engine has no cursor to hand out);
- *work relations* are named, session-scoped relations (DuckDB temporary tables and views,
  Spark temporary views) made from a query, from Arrow, or by reading a file; callers know
  them only by name;
- data crosses the seam as Arrow only (``register``, ``append``, ``fetch_arrow``,
  ``batches``), which an in-process engine shares without a copy and a remote one sends
  over the wire;
- reading a file is one method per kind of read the read room does, with the options it
  has already decided (dialect, columns, nulls); detection of encoding and format stays in
  ``tidegate.read``;
- engine exceptions are translated by the engine itself into ``tidegate.errors``.

An engine is used by one thread at a time, except ``progress``, which a watcher thread may
call while a statement runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import pyarrow as pa
from sqlglot import exp

from tidegate.errors import TidegateError

Row: TypeAlias = tuple[Any, ...]
# Rows per Arrow batch when a query is streamed: about one DuckDB row group.
BATCH_ROWS = 122_880

# What an engine error says about the work that raised it, for those who must tell a bad
# expression from a bad value (the mapping's translation points at the YAML line):
#   transient  retrying may succeed (a write conflict)
#   memory     the engine ran out of memory: a larger memory_limit helps, not another file
#   resource   the engine is short of disk, or was interrupted
#   data       a value of the file breaks the statement; the same statement runs on others
#   bind       the statement cannot run on any data of this shape (unknown column, type)
#   internal   anything else: a bug in tidegate or in the engine
ErrorKind: TypeAlias = Literal["transient", "memory", "resource", "data", "bind", "internal"]
# The kinds that say nothing of the file being read or loaded: it is never rejected for them
# (it stays in landing, retried or failed with the reason).
NOT_THE_FILE: tuple[ErrorKind, ...] = ("transient", "memory")


@dataclass(frozen=True)
class WorkRelation:
    """A session-scoped relation of the engine, by name; ``view``: computed when read."""

    name: str
    view: bool


@dataclass(frozen=True)
class DelimitedSniff:
    """What is already known before a delimited file's dialect is sniffed (None: detect)."""

    path: str
    compression: str = "auto"  # "none", "gzip", "zstd", "auto"
    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    header: bool = True
    skip_rows: int = 0


@dataclass(frozen=True)
class SniffedDialect:
    """An engine's sniffer's answer; None for what it could not tell."""

    delimiter: str | None
    quote: str | None
    escape: str | None
    newline: str | None  # "\n", "\r\n", "\r" or None
    width: int  # columns found


@dataclass(frozen=True)
class DelimitedRead:
    """A delimited file read with an explicit dialect and explicit text columns.

    Nothing is detected: the read layer has sniffed and decided. ``null``: the values read
    as SQL NULL; empty means none is (an empty field is the empty string).
    """

    path: str
    columns: Sequence[str]
    delimiter: str
    quote: str  # "" for none
    escape: str  # "" for none
    header: bool = True
    skip_rows: int = 0
    newline: str | None = None  # None: the engine detects "\n" against "\r\n"
    compression: str = "auto"
    null: Sequence[str] = ()
    max_line_bytes: int = 1 << 26
    # Into a table of many files' records (the raw layer) rather than a temp table of the
    # file's own: columns given one value for every row (the file id), and the column that
    # numbers the records 1, 2, ... as read (bad records are left out, not counted).
    constants: Sequence[tuple[str, str]] = ()
    numbered: str | None = None


@dataclass(frozen=True)
class RejectedLine:
    """One complaint of the engine about one physical line of a delimited file.

    A line may have several (one per field at fault); ``line`` is 1-based and counts the
    lines the engine read, ``offset`` is the byte position where the line starts.
    """

    line: int
    offset: int
    error: str  # the engine's kind of error, e.g. "TOO MANY COLUMNS", "INVALID ENCODING"
    raw: str  # the line as found
    message: str


@dataclass(frozen=True)
class JsonRead:
    """The JSON values of one document: the elements of its top-level array
    (``shape="array"``), or the document itself (``"unstructured"``); with ``pointer``
    (a JSONPath such as ``$.data.items``), what the document holds there, a list's items
    one by one."""

    path: str
    shape: Literal["array", "unstructured"]
    compression: str = "auto"
    pointer: str | None = None


@dataclass(frozen=True)
class ParquetRead:
    """A Parquet file, its columns renamed (``(name in the file, name read)``), with
    ``row`` set to each record's 1-based position in the file."""

    path: str
    columns: Sequence[tuple[str, str]]
    row: str = "_row"
    options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """A compute engine, local or remote, behind sqlglot trees and Arrow."""

    @property
    def dialect(self) -> str:
        """The sqlglot dialect its statements are rendered in (``duckdb``, ``spark``)."""
        ...

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions its methods raise of their own, for ``except engine.errors``."""
        ...

    # ------------------------------------------------------------------ statements

    def execute(self, statement: exp.Expr | str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement (a sqlglot tree, or text already rendered in ``dialect``,
        as a ``Plan`` holds) with ``?`` placeholders bound to ``params``; its rows, or
        ``[]`` for a statement that returns none. For small answers: counts, names."""
        ...

    def execute_many(self, statement: exp.Expr, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement with placeholders once per row of parameters."""
        ...

    def fetch_arrow(self, query: exp.Query) -> pa.Table:
        """A query's whole answer as one Arrow table (for answers that fit in memory)."""
        ...

    def batches(self, query: exp.Query, rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
        """A query's answer streamed as Arrow record batches of up to ``rows`` rows."""
        ...

    # ------------------------------------------------------------------ work relations

    def create(self, name: str, source: exp.Query | pa.Table, *, view: bool = False) -> None:
        """Make (or replace) the work relation ``name`` from a query or from Arrow;
        ``view``: computed each time it is read instead of stored."""
        ...

    def append(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        """Insert Arrow rows into the work table ``name``, by column position."""
        ...

    def drop(self, *names: str) -> None:
        """Drop work relations (tables or views) if they exist."""
        ...

    def work_relations(self) -> list[WorkRelation]:
        """Every work relation of the session, views first (they may read the tables)."""
        ...

    def columns(self, name: str) -> list[tuple[str, exp.DataType]]:
        """A relation's columns and their types, in order."""
        ...

    def register(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        """Make Arrow data readable as the relation ``name`` until ``unregister``."""
        ...

    def unregister(self, name: str) -> None:
        """Forget a relation made by ``register``."""
        ...

    # ------------------------------------------------------------------ reading files

    def sniff_delimited(self, sniff: DelimitedSniff) -> SniffedDialect | None:
        """The engine's own guess at a delimited file's dialect, or None if it has no
        sniffer or the sniffer gave up (the read layer then falls back to its own)."""
        ...

    def read_delimited(self, read: DelimitedRead, into: str | exp.Table) -> list[RejectedLine]:
        """Append the good records of a delimited file, in file order, to the existing
        work table ``into`` (a leading ``_row`` BIGINT left NULL, then ``read.columns``
        as text); the lines that could not be read are returned, none silently lost.

        With ``read.numbered`` ``into`` is a table of the catalog holding other files'
        records too: columns are matched by name, ``read.constants`` given, and the
        records numbered as read in ``read.numbered``."""
        ...

    def read_json(self, read: JsonRead, into: str) -> bool:
        """Append the JSON values of a document as text to the work table ``into``
        (``_line`` BIGINT and ``_row`` left NULL, then the value); False when nothing is
        at ``read.pointer``."""
        ...

    def read_parquet(self, read: ParquetRead, into: str) -> None:
        """Make the work table ``into`` of a Parquet file's records (``row`` first)."""
        ...

    # ------------------------------------------------------------------ the engine itself

    def progress(self) -> float | None:
        """How far the running statement is, 0-100, or None between statements. Safe to
        call from another thread."""
        ...

    def kind(self, exc: BaseException) -> ErrorKind:
        """What an error of ``errors`` says about the statement that raised it."""
        ...

    def translate(self, exc: BaseException, label: str) -> TidegateError:
        """An engine error met while working on ``label`` (a file, a source) as tidegate's
        error: transient ones retried, others terminal; the one place per engine."""
        ...

    def close(self) -> None:
        """Release the session (an engine shared with its warehouse is left open)."""
        ...


def reason_of(exc: BaseException) -> str:
    """The first line of an engine error's message, for one-line errors."""
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__


def not_the_file(con: Engine, exc: BaseException) -> bool:
    """Whether ``exc`` is an error of ``con`` of a kind that says nothing of the file."""
    return isinstance(exc, con.errors) and con.kind(exc) in NOT_THE_FILE
