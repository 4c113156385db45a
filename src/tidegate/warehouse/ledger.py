"""The ledger: the metadata schema that remembers every file, run and quarantined row.

Its rows are written in the same transaction as the data they describe, so the ledger
and the targets can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlglot import exp

from tidegate.sql import col, data_type, insert_values, lit, table
from tidegate.sql import update as sql_update
from tidegate.warehouse.base import Warehouse

FILES = "files"
RUNS = "runs"
QUARANTINE = "quarantine"

STATUSES = ("loaded", "rejected", "failed", "duplicate")


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
    status: str = "running"
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


def insert_run(wh: Warehouse, record: RunRecord) -> None:
    _insert(wh, RUNS, record)


def insert_quarantine(wh: Warehouse, records: list[QuarantineRecord]) -> None:
    if not records:
        return
    names = [f.name for f in fields(QuarantineRecord)]
    rows = [[getattr(r, n) for n in names] for r in records]
    target = table(QUARANTINE, wh.schemas.meta)
    for start in range(0, len(rows), 500):
        wh.execute(insert_values(target, names, rows[start : start + 500]))


def update(wh: Warehouse, name: str, key: tuple[str, str], values: dict[str, Any]) -> None:
    wh.execute(sql_update(table(name, wh.schemas.meta), values, col(key[0]).eq(lit(key[1]))))


def _select(record_type: type, name: str, wh: Warehouse) -> exp.Select:
    names = [col(f.name) for f in fields(record_type)]
    return exp.select(*names).from_(table(name, wh.schemas.meta))


def files_with_hash(wh: Warehouse, sha256: str) -> list[FileRecord]:
    query = _select(FileRecord, FILES, wh).where(col("sha256").eq(lit(sha256)))
    return [FileRecord(*row) for row in wh.execute(query.order_by(col("started_at")))]


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


def unarchived(wh: Warehouse) -> list[FileRecord]:
    """Files committed as loaded or duplicate whose move to the archive may not have happened."""
    query = _select(FileRecord, FILES, wh).where(
        col("status").isin(lit("loaded"), lit("duplicate"))
    )
    return [FileRecord(*row) for row in wh.execute(query)]


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
