"""Where a rejected CSV record sits: its ordinal among the records and its physical line.

DuckDB numbers a rejected record by counting records *and blank lines* from the top of
the file (header and skipped rows included) and gives the byte where its text begins.
Blank lines are not records, so when one precedes a rejected record the count is redone
with Python's csv module, which sees blank lines as empty rows; otherwise the one pass
over the bytes that finds physical lines suffices. A physical line ends at each LF (at
each CR in a file whose records end in CR alone).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK = 1 << 20
# An empty line in each newline style (one search per chunk: these scans run at memory speed).
BLANK_LINE = {"\n": b"\n\n", "\r\n": b"\n\r\n", "\r": b"\r\r"}
NEWLINES = "\r\n"
# The largest field Python's csv module may return (a C long on every platform).
FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)

Opener = Callable[[], BinaryIO]


@dataclass(frozen=True)
class Reject:
    """One rejected record as DuckDB reported it, its errors gathered."""

    line: int
    offset: int
    raw: str
    errors: tuple[str, ...]
    messages: tuple[str, ...]

    @classmethod
    def of(
        cls,
        line: int,
        line_byte_position: int,
        raw: str,
        errors: Sequence[str],
        messages: Sequence[str],
    ) -> Reject:
        """DuckDB's position is 1-based and its text may begin with the newlines before it."""
        text = raw.lstrip(NEWLINES)
        offset = max(0, line_byte_position - 1) + len(raw) - len(text)
        return cls(line, offset, text.rstrip(NEWLINES), tuple(errors), tuple(messages))


@dataclass(frozen=True)
class Place:
    row: int
    line: int | None


def locate(
    opener: Opener,
    rejects: Sequence[Reject],
    first_line: int,
    newline: str,
    reader_options: Mapping[str, Any],
) -> dict[int, Place]:
    """Ordinal and physical line of each reject, keyed by DuckDB's line number.

    ``first_line`` is DuckDB's number of the first data record (skipped rows + header + 1).
    """
    if not rejects:
        return {}
    physical, blank = _scan_bytes(opener, [r.offset for r in rejects], newline)
    ordinals = {r.line: r.line - first_line + 1 for r in rejects}
    if blank:
        # A record Python cannot parse keeps DuckDB's count.
        with suppress(csv.Error):
            ordinals.update(_scan_records(opener, set(ordinals), first_line, reader_options))
    return {r.line: Place(ordinals[r.line], physical.get(r.offset)) for r in rejects}


def _scan_bytes(
    opener: Opener, offsets: Sequence[int], newline: str
) -> tuple[dict[int, int], bool]:
    """Physical line of each offset, and whether a blank line may precede the last one."""
    mark = b"\r" if newline == "\r" else b"\n"
    empty = BLANK_LINE.get(newline, b"\n\n")
    targets = sorted(set(offsets))
    last = targets[-1]
    lines: dict[int, int] = {}
    base = count = next_target = 0
    tail = b""
    blank = False
    with opener() as stream:
        while base <= last and (chunk := stream.read(CHUNK)):
            end = base + len(chunk)
            done = 0  # newlines of this chunk before ``done`` are in ``count``
            while next_target < len(targets) and targets[next_target] < end:
                at = targets[next_target] - base
                count += chunk.count(mark, done, at)
                done = at
                lines[targets[next_target]] = count + 1
                next_target += 1
            if not blank:
                before = min(len(chunk), last - base)
                blank = (base == 0 and chunk[:1] in (b"\n", b"\r")) or empty in tail + chunk[:2]
                blank = blank or chunk.find(empty, 0, before) >= 0
            count += chunk.count(mark, done)
            tail, base = chunk[-2:], end
    return lines, blank


def _scan_records(
    opener: Opener, wanted: set[int], first_line: int, reader_options: Mapping[str, Any]
) -> dict[int, int]:
    """Ordinals by walking the records with Python's csv: blank lines come back empty."""
    ordinals: dict[int, int] = {}
    last = max(wanted)
    blanks = 0
    with opener() as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        for index, record in enumerate(records(text, **reader_options), start=1):
            if index in wanted:
                ordinals[index] = index - first_line + 1 - blanks
            if not record and index >= first_line:
                blanks += 1
            if index >= last:
                break
    return ordinals


def field_count(raw: str, reader_options: Mapping[str, Any]) -> int | None:
    """How many fields a record's text holds, or None if it does not parse."""
    try:
        record = next(records(io.StringIO(raw, newline=""), **reader_options), [])
    except csv.Error:
        return None
    return len(record)


def records(stream: Iterable[str], **options: Any) -> Iterator[list[str]]:
    """Python's csv reader without its 128 KiB field limit: a long field is data.

    The limit is process-wide; it is raised once and never lowered again, so reads on
    other threads never see it change under them.
    """
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    return csv.reader(stream, **options)
