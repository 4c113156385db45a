"""One entry point per question (read a file, peek at its columns); one module per format."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyarrow as pa

from tidegate.compute import local_errors
from tidegate.compute.engine import Engine, not_the_file
from tidegate.config.models import ReadOptions
from tidegate.errors import FileError, ReadError
from tidegate.read import csv as csv_reader
from tidegate.read import excel, json, parquet
from tidegate.read.failures import explain
from tidegate.read.formats import source_format
from tidegate.read.result import Into, ReadResult
from tidegate.read.source import Source, open_source
from tidegate.read.tables import drop

# What reading may raise besides our own errors: the parsers', the decoders' (and the
# engine's own, ``Engine.errors``).
READ_FAILURES: tuple[type[BaseException], ...] = (
    pa.ArrowException,
    UnicodeError,
    OSError,
    EOFError,
    ValueError,
    RecursionError,
    csv.Error,
)

Reader = Callable[[Engine, Source, ReadOptions, str, str, Path], ReadResult]
Peeker = Callable[[Source, ReadOptions, str, Path], list[str]]

IntoReader = Callable[[Engine, Source, ReadOptions, str, str, Path, Into], ReadResult]
# The formats whose records can go straight into the raw layer as they are read.
INTO_READERS: dict[str, IntoReader] = {"csv": csv_reader.read, "tsv": csv_reader.read}

READERS: dict[str, tuple[Reader, Peeker]] = {
    "csv": (csv_reader.read, csv_reader.peek),
    "tsv": (csv_reader.read, csv_reader.peek),
    "json": (json.read, json.peek),
    "jsonl": (json.read, json.peek),
    "parquet": (parquet.read, parquet.peek),
    "xlsx": (excel.read, excel.peek),
}


def read_file(
    con: Engine,
    path: Path,
    options: ReadOptions,
    fmt: str = "auto",
    table: str = "_tg_read",
    into: Into | None = None,
) -> ReadResult:
    """Read ``path`` into the TEMP table ``table`` of ``con`` (replacing it).

    With ``into``, a format that can (``INTO_READERS``) appends the records to that table
    instead and ``table`` is a view of them (``ReadResult.in_raw``).

    Raises ``EmptyFileError`` for a file without records and ``ReadError`` for one that
    cannot be read; bad records of a readable file are in ``ReadResult.bad``.
    """
    with tempfile.TemporaryDirectory(prefix="tidegate-read-") as scratch:
        workdir = Path(scratch)
        with _translated(str(path), fmt, con.errors, con):
            source = open_source(Path(path), workdir)
            kind = source_format(source, fmt)
        try:
            with _translated(source.label, kind, con.errors, con):
                direct = INTO_READERS.get(kind) if into is not None else None
                if direct is not None and into is not None:
                    return direct(con, source, options, kind, table, workdir, into)
                return READERS[kind][0](con, source, options, kind, table, workdir)
        except FileError:
            # Never leave half a file behind; a transaction the failure aborted refuses the
            # drop, and its rollback removes the table.
            with suppress(*con.errors):
                drop(con, table)
            raise


def peek_columns(path: Path, options: ReadOptions, fmt: str = "auto") -> list[str]:
    """The column names a read would give, from the header or first records only."""
    with tempfile.TemporaryDirectory(prefix="tidegate-peek-") as scratch:
        workdir = Path(scratch)
        with _translated(str(path), fmt):
            source = open_source(Path(path), workdir)
            kind = source_format(source, fmt)
        with _translated(source.label, kind, local_errors()):
            return READERS[kind][1](source, options, kind, workdir)


@contextmanager
def _translated(
    label: str,
    kind: str,
    engine: tuple[type[BaseException], ...] = (),
    con: Engine | None = None,
) -> Iterator[None]:
    """Engine, parser and decoder failures become ``ReadError`` naming the file, in this one
    place, with a user's reason (``failures.py``); an error of ``con`` that says nothing of
    the file (out of memory, a conflict) is ``con``'s own translation, never a bad file."""
    try:
        yield
    except FileError:
        raise
    except (*READ_FAILURES, *engine) as exc:
        if con is not None and not_the_file(con, exc):
            raise con.translate(exc, label) from exc
        raise ReadError(label, explain(exc, kind)) from exc
