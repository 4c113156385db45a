"""The ledger: the metadata schema that remembers every file, run and quarantined row.

Its rows are written in the same transaction as the data they describe, so the ledger
and the targets can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from tidegate.sql import col, data_type, insert_values, lit, table
from tidegate.sql import update as sql_update
from tidegate.warehouse.base import Warehouse

FILES = "files"
RUNS = "runs"
QUARANTINE = "quarantine"

STATUSES = ("loaded", "rejected", "failed", "duplicate")
CHUNK = 500  # rows per INSERT of many records (a statement's parameters are limited)


@dataclass
class FileRecord:
    """One delivery of one file: a row of ``tidegate.files``."""

    file_id: str
    run_id: str
    source: str | None
    name: str
    path: str
    size: int
    sha256: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    new_columns: str | None = None
    error: str | None = None
    archive_path: str | None = None
    duplicate_of: str | None = None
    format: str | None = None
    encoding: str | None = None
    modified_at: datetime | None = None  # the file's mtime (UTC)
    context: str | None = None  # JSON of the file's FileContext, as the run built it


@dataclass
class RunRecord:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | ok | partial | interrupted (its process died)
    files_loaded: int = 0
    files_rejected: int = 0
    files_failed: int = 0
    files_duplicate: int = 0
    version: str = ""


@dataclass
class QuarantineRecord:
    """A bad row: where it came from, every reason it failed, and its original values."""

    file_id: str
    source: str
    target: str | None
    row: int
    reasons: str  # JSON list of {rule, column, value, message}
    record: str  # JSON object of the original values
    quarantined_at: datetime
    status: str = "open"  # open | replayed
    replayed_at: datetime | None = None


_TYPES = {int: "bigint", str: "varchar", datetime: "timestamp"}


def _columns(record_type: type) -> list[tuple[str, exp.DataType]]:
    """Column definitions derived from a dataclass, so the table and the record agree."""
    out = []
    for field in fields(record_type):
        python_type = next(t for t in _TYPES if t.__name__ in str(field.type))
        out.append((field.name, data_type(_TYPES[python_type])))
    return out


def ensure(wh: Warehouse) -> None:
    """Create the metadata schema and its tables (idempotent).

    A ledger written by an older tidegate gains the columns it lacks, in place; its old
    rows read back with those columns empty.
    """
    meta = wh.schemas.meta
    wh.ensure_schema(meta)
    wh.ensure_table(FILES, meta, _columns(FileRecord), primary_key=["file_id"])
    wh.ensure_index(FILES, meta, f"{FILES}__sha256", ["sha256"])  # asked for every file
    wh.ensure_table(RUNS, meta, _columns(RunRecord), primary_key=["run_id"])
    wh.ensure_table(QUARANTINE, meta, _columns(QuarantineRecord))


def _insert(wh: Warehouse, name: str, record: Any) -> None:
    values = asdict(record)
    wh.execute(insert_values(table(name, wh.schemas.meta), list(values), [list(values.values())]))


def insert_file(wh: Warehouse, record: FileRecord) -> None:
    _insert(wh, FILES, record)


def insert_files(wh: Warehouse, records: list[FileRecord]) -> None:
    """Many files' rows (a batch's) in one bulk write: rendering each value as SQL text
    would cost more than loading the files' rows."""
    if records:
        wh.write(FILES, wh.schemas.meta, _arrow(FileRecord, records))


_ARROW = {int: pa.int64(), str: pa.string(), datetime: pa.timestamp("us")}


def _arrow(record_type: type, records: list[Any]) -> pa.RecordBatchReader:
    """Records of a ledger dataclass as Arrow, typed as ``_columns`` types the table."""
    names, kinds = [], []
    for field in fields(record_type):
        names.append(field.name)
        kinds.append(next(_ARROW[t] for t in _TYPES if t.__name__ in str(field.type)))
    schema = pa.schema(list(zip(names, kinds, strict=True)))
    data = pa.table({n: [getattr(r, n) for r in records] for n in names}, schema=schema)
    return pa.RecordBatchReader.from_batches(schema, data.to_batches())


def insert_run(wh: Warehouse, record: RunRecord) -> None:
    _insert(wh, RUNS, record)


def insert_quarantine(wh: Warehouse, records: list[QuarantineRecord]) -> None:
    if not records:
        return
    names = [f.name for f in fields(QuarantineRecord)]
    rows = [[getattr(r, n) for n in names] for r in records]
    target = table(QUARANTINE, wh.schemas.meta)
    for start in range(0, len(rows), CHUNK):
        wh.execute(insert_values(target, names, rows[start : start + CHUNK]))


def update(wh: Warehouse, name: str, key: tuple[str, str], values: dict[str, Any]) -> None:
    wh.execute(sql_update(table(name, wh.schemas.meta), values, col(key[0]).eq(lit(key[1]))))


def _select(record_type: type, name: str, wh: Warehouse) -> exp.Select:
    names = [col(f.name) for f in fields(record_type)]
    return exp.select(*names).from_(table(name, wh.schemas.meta))


def files_with_hash(wh: Warehouse, sha256: str) -> list[FileRecord]:
    query = _select(FileRecord, FILES, wh).where(col("sha256").eq(lit(sha256)))
    return [FileRecord(*row) for row in wh.execute(query.order_by(col("started_at")))]


def files_with_hashes(wh: Warehouse, hashes: list[str]) -> dict[str, list[FileRecord]]:
    """``files_with_hash`` of many contents at once: a batch asks once, not once a file."""
    found: dict[str, list[FileRecord]] = {sha: [] for sha in hashes}
    for start in range(0, len(hashes), CHUNK):
        chunk = [lit(sha) for sha in hashes[start : start + CHUNK]]
        query = _select(FileRecord, FILES, wh).where(col("sha256").isin(*chunk))
        for row in wh.execute(query.order_by(col("started_at"))):
            record = FileRecord(*row)
            found[record.sha256].append(record)
    return found


def loaded_file(wh: Warehouse, sha256: str) -> FileRecord | None:
    """The delivery that loaded this content, if any."""
    return next((f for f in files_with_hash(wh, sha256) if f.status == "loaded"), None)


def list_files(wh: Warehouse, limit: int = 100, status: str | None = None) -> list[FileRecord]:
    query = _select(FileRecord, FILES, wh)
    if status:
        query = query.where(col("status").eq(lit(status)))
    query = query.order_by(exp.Ordered(this=col("started_at"), desc=True)).limit(limit)
    return [FileRecord(*row) for row in wh.execute(query)]


def list_runs(wh: Warehouse, limit: int = 20) -> list[RunRecord]:
    query = _select(RunRecord, RUNS, wh)
    query = query.order_by(exp.Ordered(this=col("started_at"), desc=True)).limit(limit)
    return [RunRecord(*row) for row in wh.execute(query)]


def file_id(sha256: str, seen: int) -> str:
    """``sha256[:16]`` for the first delivery of a content, then ``-2``, ``-3``..."""
    return sha256[:16] if seen == 0 else f"{sha256[:16]}-{seen + 1}"


def next_file_id(wh: Warehouse, sha256: str) -> str:
    return file_id(sha256, len(files_with_hash(wh, sha256)))


def list_quarantine(
    wh: Warehouse,
    *,
    source: str | None = None,
    file_id: str | None = None,
    status: str | None = "open",
    limit: int | None = None,
) -> list[QuarantineRecord]:
    """Quarantined rows, oldest first, filtered by source, file and status."""
    query = _select(QuarantineRecord, QUARANTINE, wh)
    for name, value in (("source", source), ("file_id", file_id), ("status", status)):
        if value is not None:
            query = query.where(col(name).eq(lit(value)))
    query = query.order_by(col("file_id"), col("row"))
    if limit is not None:
        query = query.limit(limit)
    return [QuarantineRecord(*row) for row in wh.execute(query)]


def get_file(wh: Warehouse, file_id: str) -> FileRecord:
    query = _select(FileRecord, FILES, wh).where(col("file_id").eq(lit(file_id)))
    rows = wh.execute(query)
    if not rows:
        raise KeyError(f"no file {file_id!r} in the ledger")
    return FileRecord(*rows[0])


# --------------------------------------------------------------------------- run liveness


def run_lock_key(run_id: str) -> str:
    """The session lock a run holds while it lives (beside the per-file content locks)."""
    return f"run:{run_id}"


def start_run(wh: Warehouse, record: RunRecord) -> None:
    """Record a run as ``running`` while holding its session lock until the connection closes.

    The lock is how another run tells a live run from one whose process died: the server
    (or the kernel, for a file lock) releases it when the process goes, however it goes. It
    is taken before the row is written, so nobody can see the row without the lock held.
    """
    wh.lock(run_lock_key(record.run_id))
    with wh.transaction():
        insert_run(wh, record)


def running_runs(wh: Warehouse) -> list[RunRecord]:
    query = _select(RunRecord, RUNS, wh).where(col("status").eq(lit("running")))
    return [RunRecord(*row) for row in wh.execute(query.order_by(col("started_at")))]


def mark_interrupted(wh: Warehouse, current: str | None = None) -> list[str]:
    """Mark the runs left ``running`` by a process that is gone as ``interrupted``.

    A run whose lock another session still holds is alive (a concurrent run) and is left
    alone; on an embedded warehouse only one process opens the file, so every other
    ``running`` row is a dead one. An interrupted run keeps the counts of the files it did
    record. Returns the ids marked.
    """
    marked = []
    for run in running_runs(wh):
        key = run_lock_key(run.run_id)
        if run.run_id == current or not wh.lock(key):
            continue
        try:
            _mark_interrupted(wh, run.run_id)
        finally:
            wh.unlock(key)
        marked.append(run.run_id)
    return marked


def _mark_interrupted(wh: Warehouse, run_id: str) -> None:
    counts = {f"files_{status}": n for status, n in _files_by_status(wh, run_id).items()}
    values = {f"files_{status}": 0 for status in STATUSES} | counts | {"status": "interrupted"}
    still_running = exp.and_(col("run_id").eq(lit(run_id)), col("status").eq(lit("running")))
    with wh.transaction():
        wh.execute(sql_update(table(RUNS, wh.schemas.meta), values, still_running))


def _files_by_status(wh: Warehouse, run_id: str) -> dict[str, int]:
    query = (
        exp.select(col("status"), exp.Count(this=exp.Star()))
        .from_(table(FILES, wh.schemas.meta))
        .where(col("run_id").eq(lit(run_id)))
        .group_by(col("status"))
    )
    return {str(status): int(n) for status, n in wh.execute(query) if status in STATUSES}


# --------------------------------------------------------------------------- status


@dataclass
class FileOutcome:
    """The files of one source that ended in one status, and their rows."""

    source: str | None
    status: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    last_finished: datetime | None


def outcomes(wh: Warehouse) -> list[FileOutcome]:
    """Files and rows per source and status, counting each content's final outcome once.

    A failed or rejected attempt is superseded by any later attempt at the same content (a
    file that failed, stayed in landing and loaded on the next run is one loaded file);
    loaded and duplicate rows are deliveries and always count.
    """
    meta = wh.schemas.meta
    later = (
        exp.select(lit(1))
        .from_(exp.alias_(table(FILES, meta), "l", table=True))
        .where(
            exp.and_(
                col("sha256", "l").eq(col("sha256", "f")),
                exp.GT(this=col("started_at", "l"), expression=col("started_at", "f")),
            )
        )
    )
    superseded = exp.and_(
        col("status", "f").isin(lit("failed"), lit("rejected")), exp.Exists(this=later)
    )
    sums = [exp.Sum(this=col(name, "f")) for name in ("rows_read", "rows_loaded")]
    query = (
        exp.select(
            col("source", "f"),
            col("status", "f"),
            exp.Count(this=exp.Star()),
            *sums,
            exp.Sum(this=col("rows_quarantined", "f")),
            exp.Max(this=col("finished_at", "f")),
        )
        .from_(exp.alias_(table(FILES, meta), "f", table=True))
        .where(exp.not_(superseded))
        .group_by(col("source", "f"), col("status", "f"))
    )
    return [
        FileOutcome(source, status, int(n), int(read or 0), int(done or 0), int(bad or 0), last)
        for source, status, n, read, done, bad, last in wh.execute(query)
    ]


def open_quarantine_by_source(wh: Warehouse) -> dict[str, int]:
    """Rows in quarantine now (not yet replayed), per source."""
    query = (
        exp.select(col("source"), exp.Count(this=exp.Star()))
        .from_(table(QUARANTINE, wh.schemas.meta))
        .where(col("status").eq(lit("open")))
        .group_by(col("source"))
    )
    return {str(source): int(n) for source, n in wh.execute(query)}


def quarantined_files(wh: Warehouse) -> list[str]:
    """The ids of the files with rows in quarantine, in order."""
    query = (
        exp.select(col("file_id"))
        .distinct()
        .from_(table(QUARANTINE, wh.schemas.meta))
        .where(col("status").eq(lit("open")))
        .order_by(col("file_id"))
    )
    return [str(row[0]) for row in wh.execute(query)]


def quarantined_sources(wh: Warehouse) -> list[str]:
    query = exp.select(col("source")).distinct().from_(table(QUARANTINE, wh.schemas.meta))
    return sorted(str(row[0]) for row in wh.execute(query))


def has_file(wh: Warehouse, file_id: str) -> bool:
    query = exp.select(col("file_id")).from_(table(FILES, wh.schemas.meta))
    return bool(wh.execute(query.where(col("file_id").eq(lit(file_id))).limit(1)))
