"""What reading a file yields: a temp table of good records and the list of bad ones."""

from __future__ import annotations

from dataclasses import dataclass, field

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
class ReadResult:
    """A file as read: ``table`` is a DuckDB TEMP table of ``_row`` then ``columns``."""

    table: str
    columns: list[str]
    rows: int
    bad: list[BadRecord]
    format: str
    encoding: str | None
    dialect: dict[str, str] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Every record of the file: good plus bad."""
        return self.rows + len(self.bad)
