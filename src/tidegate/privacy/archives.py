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
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlglot import exp

from tidegate.archive import REASON
from tidegate.config.models import ColumnSpec, ReadOptions, SourceConfig
from tidegate.discover.landing import sha256_of
from tidegate.errors import ConfigError
from tidegate.privacy import tables
from tidegate.privacy.context import Privacy, canonical
from tidegate.privacy.keys import Keys
from tidegate.privacy.policies import stored_value
from tidegate.privacy.subjects import erased_file_columns, record_policy
from tidegate.sql import col, lit, table, update
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
        scrub = _scrub(source, privacy) if source is not None else None
        if scrub is None or not _rewrite_in(store, key, copy, rows, scrub, source_options(source)):
            failed.append(copy.archive_path)
    return failed


def _rewrite_in(
    store: Store, key: str, copy: Copy, pick: set[int] | Pick, scrub: Scrub, options: ReadOptions
) -> bool:
    """Rewrite an archived copy where it is: in place on a local folder; on an object
    store through a local copy (streamed both ways), put back whole when it changed."""
    local = store.local_path(key)
    if local is not None:
        return rewrite_file(local, copy, pick, scrub, options)
    with tempfile.TemporaryDirectory(prefix="tidegate-erase-") as folder:
        path = Path(folder) / PurePosixPath(key).name
        with store.open(key) as reader, path.open("wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        before = sha256_of(path)
        if not rewrite_file(path, copy, pick, scrub, options):
            return False
        if sha256_of(path) != before:
            with path.open("rb") as reader:
                store.write(key, reader)
    return True


def source_options(source: SourceConfig | None) -> ReadOptions:
    return source.read if source is not None else ReadOptions()


# --------------------------------------------------------------------------- rejected


def rewrite_rejected(wh: Warehouse, privacy: Privacy) -> list[str]:
    """Rewrite the files in ``rejected/`` that carry an erased subject, and mask the
    values their reasons quote; returns the files that could not be rewritten.

    A rejected file was never loaded, so no subject index names its records: each record
    is matched by value instead, by the keyed hashes in ``erased_keys`` (an identifier is
    hashed as its column would store it, so a hashed email is found too) and scrubbed by
    its source's record policy, as an archived copy is.
    """
    carries = matcher(wh, privacy)
    if carries is None or wh.columns_of(ledger.FILES, wh.schemas.meta) is None:
        return []
    query = exp.select(*[col(n) for n in ("file_id", "archive_path", "error")]).from_(
        table(ledger.FILES, wh.schemas.meta)
    )
    query = query.where(
        col("status").eq(lit("rejected")), exp.not_(col("archive_path").is_(exp.null()))
    )
    failed = []
    for file_id, stored, error in wh.execute(query):
        record = ledger.get_file(wh, str(file_id))
        store, key = locate(privacy.project, str(stored))
        _mask_reason(wh, str(file_id), None if error is None else str(error), carries, store, key)
        if not store.exists(key):
            continue
        source = privacy.project.sources.get(record.source or "")
        copy = Copy(record.file_id, str(stored), record.source, record.format, record.encoding)
        scrub = _scrub(source, privacy) if source is not None else _delete
        pick = lambda _number, found: carries(found)  # noqa: E731
        if record.format is None or not _rewrite_matching(store, key, copy, pick, scrub, source):
            failed.append(str(stored))
    return failed


def _rewrite_matching(
    store: Store, key: str, copy: Copy, pick: Pick, scrub: Scrub, source: SourceConfig | None
) -> bool:
    try:
        return _rewrite_in(store, key, copy, pick, scrub, source_options(source))
    except (ValueError, LookupError, csv.Error, OSError):
        return False  # why it was rejected: it cannot be read as its format


def _delete(record: Any) -> Any:
    return {} if isinstance(record, dict) else None


QUOTED = re.compile(r"'([^']*)'")


def _mask_reason(
    wh: Warehouse,
    file_id: str,
    error: str | None,
    carries: Callable[[Any], bool],
    store: Store,
    key: str,
) -> None:
    """The values a rejected file's reason quotes, masked where one is an erased
    identifier: in the ledger and in the note beside the file."""
    if error is not None:
        masked = _masked(error, carries)
        if masked != error:
            where = col("file_id").eq(lit(file_id))
            wh.execute(update(table(ledger.FILES, wh.schemas.meta), {"error": masked}, where))
    note = key + REASON
    if store.exists(note):
        with store.open(note) as handle:
            text = handle.read().decode("utf-8", "replace")
        masked = _masked(text, carries)
        if masked != text:
            store.write(note, masked.encode("utf-8"))


def _masked(text: str, carries: Callable[[Any], bool]) -> str:
    return QUOTED.sub(lambda m: "'...'" if carries(m.group(1)) else m.group(0), text)


def matcher(wh: Warehouse, privacy: Privacy) -> Callable[[Any], bool] | None:
    """A test of a record read from a file (a dict, a list or a value): whether one of
    its values is an identifier of an erased subject. None when nobody was erased."""
    keys = privacy.keys
    if keys is None or wh.columns_of(tables.ERASED_KEYS, wh.schemas.meta) is None:
        return None
    query = exp.select(col("hash")).distinct().from_(table(tables.ERASED_KEYS, wh.schemas.meta))
    hashes = {str(r[0]) for r in wh.execute(query)}
    if not hashes:
        return None
    graph, checks = privacy.graph, []
    for root in graph.roots:
        for column in graph.identifiers_of(root):
            spec = privacy.targets[root].columns[column]
            checks.append((root, column, spec, column == graph.key_of(root)))
    seen: dict[str, bool] = {}

    def erased(text: str) -> bool:
        if text not in seen:
            seen[text] = any(_hash(keys, *check, text) in hashes for check in checks)
        return seen[text]

    def carries(record: Any) -> bool:
        values = record.values() if isinstance(record, dict) else record
        values = (
            values if isinstance(values, list | tuple) or isinstance(record, dict) else [values]
        )
        for value in values:
            if isinstance(value, dict | list):
                if carries(value):
                    return True
            elif value is not None and str(value).strip():
                text = str(value)
                if any(erased(v) for v in {text, text.strip(), text.strip().lower()}):
                    return True
        return False

    return carries


def _hash(keys: Keys, root: str, column: str, spec: ColumnSpec, key: bool, text: str) -> str:
    """The keyed hash an erasure keeps for this value of ``root.column``."""
    try:
        stored = stored_value(spec, canonical(spec, text), keys)
    except ConfigError:
        return ""
    return keys.subject_hash(root, stored) if key else keys.identifier_hash(root, column, stored)


def _scrub(source: SourceConfig, privacy: Privacy) -> Scrub:
    """What happens to one record (a dict, or a CSV row as a dict) of this source."""
    if record_policy(source, privacy.graph) == "delete":
        return lambda record: {} if isinstance(record, dict) else None
    wanted = {c.lower() for c in erased_file_columns(source, privacy.graph)}

    def anonymise(record: Any) -> Any:
        if not isinstance(record, dict):
            return {}
        return {k: (None if k.lower().lstrip("\ufeff") in wanted else v) for k, v in record.items()}

    return anonymise


# --------------------------------------------------------------------------- formats

Pick = Callable[[int, Any], bool]  # (record number from 1, the record read) -> scrub it
TextFormat = Callable[[str, Pick, Scrub], str | None]
BinaryFormat = Callable[[bytes, Pick, Scrub, ReadOptions], bytes | None]


def rewrite_file(
    path: Path, copy: Copy, pick: set[int] | Pick, scrub: Scrub, options: ReadOptions | None = None
) -> bool:
    """Rewrite ``path`` in place (atomically, gzip kept); False when its format cannot be
    rewritten. ``pick`` says which records: their numbers (archives, from the erasure's
    records) or a test of each record (rejected files, matched by value)."""
    data = _read(path) if _readable(path) else None
    if data is None:
        return False
    changed = rewrite_bytes(data, copy.format, copy.encoding, _picker(pick), scrub, options)
    if changed is None:
        return False
    if changed != data:
        _write(path, changed)
    return True


def rewrite_bytes(
    data: bytes,
    fmt: str | None,
    encoding: str | None,
    pick: Pick,
    scrub: Scrub,
    options: ReadOptions | None = None,
) -> bytes | None:
    """The file's content with the picked records scrubbed, in the same format and
    encoding, every other record as it was (byte for byte in the text formats); None when
    the format cannot be rewritten. Bytes in, bytes out: where the file lives is the
    caller's."""
    kind = (fmt or "").lower()
    if kind in BINARY:
        return BINARY[kind](data, pick, scrub, options or ReadOptions())
    handler = FORMATS.get(kind)
    if handler is None:
        return None
    name = encoding or "utf-8"
    text = data.decode(name, errors="surrogateescape")
    changed = handler(text, pick, scrub)
    if changed is None:
        return None
    return data if changed == text else changed.encode(name, errors="surrogateescape")


def _picker(pick: set[int] | Pick) -> Pick:
    if callable(pick):
        return pick
    rows = pick
    return lambda number, _record: number in rows


def _readable(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return not suffixes or suffixes[-1] == ".gz" or suffixes[-1] not in (".zip", ".bz2", ".xz")


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _write(path: Path, data: bytes) -> None:
    """Atomically: a temporary file beside it, synced, renamed into place."""
    partial = path.with_name(path.name + ".part")
    compressed = path.read_bytes()[:2] == b"\x1f\x8b"
    with partial.open("wb") as handle:
        handle.write(gzip.compress(data, compresslevel=6, mtime=0) if compressed else data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def _json_lines(text: str, pick: Pick, scrub: Scrub) -> str:
    out, number = [], 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            number += 1
            record = _parsed(line)
            if pick(number, record):
                ending = line[len(line.rstrip("\r\n")) :]
                line = json.dumps(scrub(record), ensure_ascii=False) + ending
        out.append(line)
    return "".join(out)


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None  # an unreadable line: scrubbed whole


def _json_document(text: str, pick: Pick, scrub: Scrub) -> str | None:
    """An object, or an array of objects: only the picked elements' text is replaced, so
    the rest of the document keeps its layout byte for byte."""
    document = _parsed(text)
    if isinstance(document, dict):
        return json.dumps(scrub(document), ensure_ascii=False) if pick(1, document) else text
    if not isinstance(document, list):
        return None
    decoder, opening = json.JSONDecoder(), text.index("[") + 1
    out, position = [text[:opening]], opening
    for number in range(1, len(document) + 1):
        start = _skip(text, position, " \t\r\n,")
        record, end = decoder.raw_decode(text, start)
        out.append(text[position:start])
        picked = pick(number, record)
        out.append(json.dumps(scrub(record), ensure_ascii=False) if picked else text[start:end])
        position = end
    out.append(text[position:])
    return "".join(out)


def _skip(text: str, position: int, characters: str) -> int:
    while position < len(text) and text[position] in characters:
        position += 1
    return position


def _delimited(delimiter: str | None) -> TextFormat:
    def rewrite(text: str, pick: Pick, scrub: Scrub) -> str | None:
        try:
            dialect = csv.Sniffer().sniff(text[:65536], delimiters=delimiter or ",;|\t")
        except csv.Error:
            return None
        lines = _Lines(text)
        reader = csv.reader(lines, dialect)
        header = next(reader, None)
        if header is None:
            return text
        names = [h.lstrip("\ufeff") for h in header]
        out = [lines.taken()]
        writer_out = io.StringIO(newline="")
        for number, record in enumerate(reader, start=1):
            raw = lines.taken()
            row = dict(zip(names, record, strict=False))
            if not pick(number, row):
                out.append(raw)
                continue
            ending = raw[len(raw.rstrip("\r\n")) :] or ""
            writer = csv.writer(writer_out, dialect, lineterminator=ending)
            scrubbed = scrub(row) or {}
            writer.writerow([scrubbed.get(name) or "" for name in names])
            out.append(writer_out.getvalue())
            writer_out.seek(0)
            writer_out.truncate()
        return "".join(out) + lines.taken()

    return rewrite


class _Lines:
    """The physical lines csv.reader takes, so each record's own text can be kept."""

    def __init__(self, text: str) -> None:
        self._lines = iter(text.splitlines(keepends=True))
        self._taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._taken.append(line)
        return line

    def taken(self) -> str:
        text, self._taken = "".join(self._taken), []
        return text


def _parquet(data: bytes, pick: Pick, scrub: Scrub, options: ReadOptions) -> bytes | None:
    """Parquet: the picked rows' values set to null column by column (rows keep their
    positions, which are the records' numbers); the schema, its metadata, the row groups'
    sizes and each column's compression stay as they were."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pq.ParquetFile(io.BytesIO(data))
    whole = source.read()
    names = whole.column_names
    nulled: dict[str, list[int]] = {name: [] for name in names}
    for index, record in enumerate(whole.to_pylist()):
        if pick(index + 1, record):
            scrubbed = scrub(record) or {}
            for name in names:
                if scrubbed.get(name) is None and record.get(name) is not None:
                    nulled[name].append(index)
    if not any(nulled.values()):
        return data
    columns = []
    for name in names:
        column = whole.column(name)
        if nulled[name]:
            rows = set(nulled[name])
            mask = pa.array([i in rows for i in range(len(whole))])
            column = pc.if_else(mask, pa.scalar(None, column.type), column)
        columns.append(column)
    schema = pa.schema(
        [f.with_nullable(True) if nulled[f.name] else f for f in whole.schema],
        metadata=whole.schema.metadata,
    )
    meta = source.metadata
    out = io.BytesIO()
    pq.write_table(
        pa.Table.from_arrays(columns, schema=schema),
        out,
        compression=_compression(meta),
        row_group_size=meta.row_group(0).num_rows if meta.num_row_groups else None,
    )
    return out.getvalue()


def _compression(meta: Any) -> dict[str, str] | str:
    """Each column's codec as the file had it (the first row group's)."""
    if not meta.num_row_groups:
        return "snappy"
    group = meta.row_group(0)
    codecs = {}
    for index in range(group.num_columns):
        chunk = group.column(index)
        codec = str(chunk.compression).lower()
        codecs[chunk.path_in_schema] = "none" if codec == "uncompressed" else codec
    return codecs


def _workbook(data: bytes, pick: Pick, scrub: Scrub, options: ReadOptions) -> bytes | None:
    """An Excel workbook (.xlsx, .xlsm): the picked rows' cells emptied in the sheet that
    was read, numbered as the reader numbers them (after ``skip_rows``, blank rows not
    counted); every other cell, sheet, style and formula stays. A legacy .xls, .xlsb or
    .ods cannot be written back: reported."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    if data[:2] != b"PK":
        return None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), keep_vba=True)
    except (InvalidFileException, KeyError, ValueError, OSError):
        return None
    wanted = 0 if options.sheet is None else options.sheet
    if isinstance(wanted, int):
        if not 0 <= wanted < len(book.worksheets):
            return None
        sheet = book.worksheets[wanted]
    elif wanted in book.sheetnames:
        sheet = book[wanted]
    else:
        return None
    rows = iter(sheet.iter_rows())
    for _ in range(options.skip_rows):
        next(rows, None)
    header: list[str] | None = None
    changed, number = False, 0
    for cells in rows:
        texts = ["" if c.value is None else str(c.value) for c in cells]
        if not any(texts):
            continue
        if header is None:
            header = texts if options.header else [f"column_{i}" for i in range(1, len(texts) + 1)]
            if options.header:
                continue
        number += 1
        record = dict(zip(header, texts, strict=False))
        if not pick(number, record):
            continue
        scrubbed = scrub(record) or {}
        for name, cell in zip(header, cells, strict=False):
            if scrubbed.get(name) is None and cell.value is not None:
                cell.value = None
                changed = True
    if not changed:
        return data
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS: dict[str, TextFormat] = {
    "jsonl": _json_lines,
    "json": _json_document,
    "csv": _delimited(None),
    "tsv": _delimited("\t"),
}
BINARY: dict[str, BinaryFormat] = {"parquet": _parquet, "xlsx": _workbook}


def pending_files(wh: Warehouse, origin: str) -> list[str]:
    """Files whose records the erasures of one origin (a file id) reached."""
    erasures = exp.select(col("request_id")).from_(table(tables.ERASURES, wh.schemas.meta))
    erasures = erasures.where(col("origin").eq(lit(origin)))
    query = (
        exp.select(col("file_id")).distinct().from_(table(tables.ERASED_RECORDS, wh.schemas.meta))
    )
    query = query.where(col("request_id").isin(query=erasures))
    return sorted(str(r[0]) for r in wh.execute(query))
