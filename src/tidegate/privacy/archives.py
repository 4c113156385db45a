"""Archived files rewritten without erased subjects' personal values.

Each erased record (``erased_records``: file id and row) is rewritten in every archived
copy of its file, the first delivery and any re-delivered duplicates, by the record
policy of its source: ``delete`` empties the record (``{}`` in JSON, empty fields in
CSV) and ``anonymise`` empties the file columns that feed personal columns. Records keep
their positions, so rewriting again changes nothing. The ledger keeps the original
content hash: a re-delivered copy of the old file is still recognised as a duplicate.

JSON Lines, JSON documents (an array of objects, or one object), CSV and TSV are
rewritten, plain or gzipped; another format is reported, never silently kept.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlglot import exp

from tidegate.config.models import SourceConfig
from tidegate.discover.landing import sha256_of
from tidegate.privacy import tables
from tidegate.privacy.context import Privacy
from tidegate.privacy.subjects import erased_file_columns, record_policy
from tidegate.sql import col, lit, table
from tidegate.store import Store, locate
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse

Scrub = Callable[[Any], Any]


@dataclass(frozen=True)
class Copy:
    """One archived copy of a file whose records were erased."""

    file_id: str  # the first delivery's id: erased rows are kept under it
    archive_path: str
    source: str | None
    format: str | None
    encoding: str | None


def copies(wh: Warehouse, file_ids: list[str]) -> list[Copy]:
    """Every archived copy (loaded or duplicate delivery) of these files."""
    if not file_ids:
        return []
    ids = [lit(f) for f in file_ids]
    query = exp.select(*[col(n) for n in ("file_id", "duplicate_of", "archive_path")]).from_(
        table(ledger.FILES, wh.schemas.meta)
    )
    query = query.where(
        exp.or_(col("file_id").isin(*ids), col("duplicate_of").isin(*[i.copy() for i in ids])),
        col("status").isin(lit("loaded"), lit("duplicate")),
        exp.not_(col("archive_path").is_(exp.null())),
    )
    found = []
    for file_id, duplicate_of, path in wh.execute(query):
        original = ledger.get_file(wh, str(duplicate_of or file_id))
        found.append(
            Copy(original.file_id, str(path), original.source, original.format, original.encoding)
        )
    return found


def erased_rows(wh: Warehouse, file_id: str) -> set[int]:
    query = exp.select(col("row")).distinct().from_(table(tables.ERASED_RECORDS, wh.schemas.meta))
    return {int(r[0]) for r in wh.execute(query.where(col("file_id").eq(lit(file_id))))}


def rewrite(wh: Warehouse, privacy: Privacy, file_ids: list[str]) -> list[str]:
    """Rewrite the archived copies of these files; returns the paths that could not be."""
    if wh.columns_of(tables.ERASED_RECORDS, wh.schemas.meta) is None:
        return []
    failed = []
    for copy in copies(wh, file_ids):
        rows = erased_rows(wh, copy.file_id)
        source = privacy.project.sources.get(copy.source or "")
        store, key = locate(privacy.project, copy.archive_path)
        if not rows or not store.exists(key):
            continue
        if source is None or not _rewrite_in(store, key, copy, rows, _scrub(source, privacy)):
            failed.append(copy.archive_path)
    return failed


def _rewrite_in(store: Store, key: str, copy: Copy, rows: set[int], scrub: Scrub) -> bool:
    """Rewrite an archived copy where it is: in place on a local folder; on an object
    store through a local copy (streamed both ways), put back whole when it changed."""
    local = store.local_path(key)
    if local is not None:
        return rewrite_file(local, copy, rows, scrub)
    with tempfile.TemporaryDirectory(prefix="tidegate-erase-") as folder:
        path = Path(folder) / PurePosixPath(key).name
        with store.open(key) as reader, path.open("wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        before = sha256_of(path)
        if not rewrite_file(path, copy, rows, scrub):
            return False
        if sha256_of(path) != before:
            with path.open("rb") as reader:
                store.write(key, reader)
    return True


def _scrub(source: SourceConfig, privacy: Privacy) -> Scrub:
    """What happens to one record (a dict, or a CSV row as a dict) of this source."""
    if record_policy(source, privacy.graph) == "delete":
        return lambda record: {} if isinstance(record, dict) else None
    wanted = {c.lower() for c in erased_file_columns(source, privacy.graph)}

    def anonymise(record: Any) -> Any:
        if not isinstance(record, dict):
            return {}
        return {k: (None if k.lower() in wanted else v) for k, v in record.items()}

    return anonymise


# --------------------------------------------------------------------------- formats


def rewrite_file(path: Path, copy: Copy, rows: set[int], scrub: Scrub) -> bool:
    """Rewrite ``path`` in place; False when its format cannot be rewritten."""
    kind = (copy.format or "").lower()
    handler = FORMATS.get(kind)
    if handler is None or not _readable(path):
        return False
    encoding = copy.encoding or "utf-8"
    text = _read(path).decode(encoding, errors="surrogateescape")
    changed = handler(text, rows, scrub)
    if changed is None:
        return False
    if changed != text:
        _write(path, changed.encode(encoding, errors="surrogateescape"))
    return True


def _readable(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return not suffixes or suffixes[-1] == ".gz" or suffixes[-1] not in (".zip", ".bz2", ".xz")


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _write(path: Path, data: bytes) -> None:
    """Atomically: a temporary file beside it, synced, renamed into place."""
    partial = path.with_name(path.name + ".part")
    compressed = path.suffix.lower() == ".gz"
    with partial.open("wb") as handle:
        handle.write(gzip.compress(data, compresslevel=6, mtime=0) if compressed else data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def _json_lines(text: str, rows: set[int], scrub: Scrub) -> str:
    out, number = [], 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            number += 1
            if number in rows:
                ending = line[len(line.rstrip("\r\n")) :]
                line = json.dumps(scrub(_parsed(line)), ensure_ascii=False) + ending
        out.append(line)
    return "".join(out)


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None  # an unreadable line: scrubbed whole


def _json_document(text: str, rows: set[int], scrub: Scrub) -> str | None:
    document = _parsed(text)
    if isinstance(document, dict):
        return json.dumps(scrub(document), ensure_ascii=False) if 1 in rows else text
    if not isinstance(document, list):
        return None
    changed = [scrub(r) if i in rows else r for i, r in enumerate(document, start=1)]
    return json.dumps(changed, ensure_ascii=False)


def _delimited(delimiter: str | None) -> Callable[[str, set[int], Scrub], str | None]:
    def rewrite(text: str, rows: set[int], scrub: Scrub) -> str | None:
        try:
            dialect = csv.Sniffer().sniff(text[:65536], delimiters=delimiter or ",;|\t")
        except csv.Error:
            return None
        records = list(csv.reader(io.StringIO(text, newline=""), dialect))
        if not records:
            return text
        header, out = records[0], io.StringIO(newline="")
        ending = "\r\n" if "\r\n" in text[:65536] else "\n"
        writer = csv.writer(out, delimiter=dialect.delimiter, lineterminator=ending)
        writer.writerow(header)
        for number, record in enumerate(records[1:], start=1):
            if number in rows:
                scrubbed = scrub(dict(zip(header, record, strict=False))) or {}
                record = [scrubbed.get(name) or "" for name in header]
            writer.writerow(record)
        return out.getvalue()

    return rewrite


FORMATS: dict[str, Callable[[str, set[int], Scrub], str | None]] = {
    "jsonl": _json_lines,
    "json": _json_document,
    "csv": _delimited(None),
    "tsv": _delimited("\t"),
}


def pending_files(wh: Warehouse, origin: str) -> list[str]:
    """Files whose records the erasures of one origin (a file id) reached."""
    erasures = exp.select(col("request_id")).from_(table(tables.ERASURES, wh.schemas.meta))
    erasures = erasures.where(col("origin").eq(lit(origin)))
    query = (
        exp.select(col("file_id")).distinct().from_(table(tables.ERASED_RECORDS, wh.schemas.meta))
    )
    query = query.where(col("request_id").isin(query=erasures))
    return sorted(str(r[0]) for r in wh.execute(query))
