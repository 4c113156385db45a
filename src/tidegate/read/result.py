"""What reading a file yields: a temp table of good records and the list of bad ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

ROW = "_row"
"""The leading column of every read table: the record's 1-based ordinal in the file."""


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read as a row, kept with why and where.

    ``row`` numbers data records in file order (the header excluded, bad records counted),
    so it lines up with the ``_row`` of the good records around it.
    """

    row: int
    line: int | None
    reason: str
    raw: str


@dataclass(frozen=True)
class Into:
    """Where a read may put a file's records instead of a temp table of its own: a table of
    many files' records (the raw layer), inside the file's open transaction.

    The file's rows get ``file_id`` in ``file_column`` and ``_row`` numbered as read, and the
    read's table is a view of them. ``prepare(columns)`` makes the table hold the file's
    columns, or answers False to have this file read into a temp table after all.
    """

    table: exp.Table
    file_column: str
    file_id: str
    prepare: Callable[[list[str]], bool]


@dataclass(frozen=True)
class ReadResult:
    """A file as read: ``table`` is a DuckDB TEMP table of ``_row`` then ``columns``."""

    table: str
    columns: list[str]
    rows: int
    bad: list[BadRecord]
    format: str
    encoding: str | None
    dialect: dict[str, str] = field(default_factory=dict)
    in_raw: bool = False  # ``table`` is a view of the file's rows already in the raw layer

    @property
    def records(self) -> int:
        """Every record of the file: good plus bad."""
        return self.rows + len(self.bad)
