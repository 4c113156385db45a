"""Replay: quarantined records re-evaluated under the current contract.

The records that now pass load exactly once (their quarantine rows become ``replayed`` in
the same transaction), the rest stay with their current reasons, and the file's ledger
counts move from quarantined to loaded. Lines that could not be read at all, and rows
held back as duplicate keys, stay in quarantine: a contract fix cannot change them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from tidegate import compute, schema
from tidegate.clock import utcnow
from tidegate.compute import failures
from tidegate.compute.engine import Engine
from tidegate.compute.rows import write_quarantine
from tidegate.config.models import Project
from tidegate.deliver import Delivery, deliver
from tidegate.discover.context import recorded
from tidegate.privacy import hooks as privacy
from tidegate.read import ROW, ReadResult
from tidegate.sql import col, lit, table, update
from tidegate.transform.evaluate import (
    BAD,
    DUPLICATE,
    Outcome,
    drop_work,
    evaluate,
    set_file_values,
)
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.ledger import FileRecord, QuarantineRecord

READ = "_tg_replay"
UNREPLAYABLE = {"read", "duplicate"}


@dataclass
class Replayed:
    file_id: str
    source: str
    tried: int
    loaded: int
    unchanged: int
    duplicate: int
    still_bad: int


def replayable(record: QuarantineRecord) -> bool:
    rules = {reason.get("rule") for reason in json.loads(record.reasons)}
    return record.target is not None and not rules <= UNREPLAYABLE


def replay(project: Project, file_id: str | None = None) -> list[Replayed]:
    """Replay the open quarantine of one file, or of every file."""
    with connect(project) as wh:
        ledger.ensure(wh)
        schema.prepare(wh, project, None)  # a type fix widens the table; an unsafe one stops
        con = compute.engine(wh, project)
        groups: dict[tuple[str, str], dict[int, QuarantineRecord]] = defaultdict(dict)
        for record in ledger.list_quarantine(wh, file_id=file_id, status="open"):
            if replayable(record) and record.source in project.sources:
                groups[(record.file_id, record.source)][record.row] = record
        return [
            _replay_file(con, wh, project, ledger.get_file(wh, fid), records)
            for (fid, _), records in sorted(groups.items())
        ]


def _records_table(con: Engine, records: dict[int, QuarantineRecord]) -> ReadResult:
    """The original values back as a read table: text columns, nested values as JSON."""
    values = {row: json.loads(r.record) for row, r in sorted(records.items())}
    columns: list[str] = []
    for value in values.values():
        columns += [name for name in value if name not in columns]
    nested = {n for v in values.values() for n, x in v.items() if isinstance(x, dict | list)}
    arrays: dict[str, list[Any]] = {ROW: list(values)}
    for name in columns:
        arrays[name] = [_text(v.get(name)) for v in values.values()]
    con.register("_tg_replay_arrow", pa.table(arrays))
    select = [col(ROW)] + [
        exp.alias_(exp.cast(col(n), "json"), n, quoted=True) if n in nested else col(n)
        for n in columns
    ]
    con.create(READ, exp.select(*select).from_(table("_tg_replay_arrow")))
    con.unregister("_tg_replay_arrow")
    return ReadResult(READ, columns, len(values), [], "replay", None)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _rows_of(con: Engine, name: str) -> set[int]:
    return {int(r[0]) for r in con.execute(exp.select(col(ROW)).from_(table(name)))}


def _replay_file(
    con: Engine,
    wh: Warehouse,
    project: Project,
    file: FileRecord,
    records: dict[int, QuarantineRecord],
) -> Replayed:
    try:
        return _replay_rows(con, wh, project, file, records)
    finally:
        drop_work(con)


def _evaluated(
    con: Engine,
    wh: Warehouse,
    project: Project,
    file: FileRecord,
    read: ReadResult,
) -> Outcome:
    """The records mapped and checked as a run does, with the context the run stored."""
    assert file.source is not None
    source = project.sources[file.source]
    set_file_values(con, recorded(file, source).values())
    lookup = privacy.lookup(wh, project)
    try:
        outcome = evaluate(con, read.table, source, project.targets, lookup, records=read.rows)
    except con.errors as exc:
        label = f"replay of {file.path}"
        raise failures.translate(exc, con, project, file.source, read.table, label) from exc
    privacy.prepare(con, project, source, read, outcome, replay=True)
    return outcome


def _replay_rows(
    con: Engine,
    wh: Warehouse,
    project: Project,
    file: FileRecord,
    records: dict[int, QuarantineRecord],
) -> Replayed:
    assert file.source is not None
    read = _records_table(con, records)
    privacy.restore(con, wh, project, file.file_id, read)  # the sealed originals, if any
    outcome = _evaluated(con, wh, project, file, read)
    bad = _rows_of(con, BAD)
    duplicate = _rows_of(con, DUPLICATE) - bad
    passed = set(records) - bad
    now = utcnow()
    context = recorded(file, project.sources[file.source])
    with wh.transaction():
        # the load time the run used, so ``run_time`` effective times are the run's
        delivery = Delivery(file.file_id, context, context.loaded_at or file.started_at)
        done = deliver(con, wh, project, outcome, delivery, f"replay of {file.path}")
        _close(wh, file.file_id, passed, now)
        _requarantine(con, wh, file, read, outcome, bad)
        privacy.committing(con, wh, project, file)
        loaded = len(passed) - len(duplicate) - done.unchanged
        ledger.update(
            wh,
            ledger.FILES,
            ("file_id", file.file_id),
            {
                "rows_loaded": file.rows_loaded + loaded,
                "rows_unchanged": file.rows_unchanged + done.unchanged,
                "rows_duplicate": file.rows_duplicate + len(duplicate),
                "rows_quarantined": file.rows_quarantined - len(passed),
            },
        )
    return Replayed(
        file.file_id, file.source, len(records), loaded, done.unchanged, len(duplicate), len(bad)
    )


def _open_rows(file_id: str, rows: set[int]) -> exp.Expr:
    return exp.and_(
        col("file_id").eq(lit(file_id)),
        col("status").eq(lit("open")),
        col("row").isin(*[lit(r) for r in sorted(rows)]),
    )


def _close(wh: Warehouse, file_id: str, rows: set[int], when: Any) -> None:
    if rows:
        values = {"status": "replayed", "replayed_at": when}
        quarantine = table(ledger.QUARANTINE, wh.schemas.meta)
        wh.execute(update(quarantine, values, _open_rows(file_id, rows)))


def _requarantine(
    con: Engine,
    wh: Warehouse,
    file: FileRecord,
    read: ReadResult,
    outcome: Outcome,
    bad: set[int],
) -> None:
    """Rows that still fail: their old reasons are replaced by the current ones."""
    if bad:
        wh.execute(
            exp.delete(
                table(ledger.QUARANTINE, wh.schemas.meta), where=_open_rows(file.file_id, bad)
            )
        )
        write_quarantine(con, wh, file, read, outcome)
