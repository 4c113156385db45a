"""The rows a file gives the warehouse: target rows with lineage, raw rows, quarantine rows.

Each is a query of the compute engine (``Rows``): the embedded DuckDB warehouse is that
engine and inserts them itself; any other warehouse gets them as Arrow batches, streamed,
never a whole file in memory.
"""

from __future__ import annotations

import json

from sqlglot import exp

from tidegate import effective
from tidegate.compute.engine import Engine
from tidegate.config.models import TargetConfig
from tidegate.privacy.hooks import quarantined_records
from tidegate.read import BadRecord, ReadResult
from tidegate.sql import col, data_type, ident, lit, table
from tidegate.transform.evaluate import BAD, Outcome
from tidegate.transform.hashing import hash_column, row_hash, valid_from_column
from tidegate.transform.mapping import REASONS, ROW
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.ledger import FileRecord
from tidegate.warehouse.load import FILE_ID, LOADED_AT, LoadContext


def target_rows(con: Engine, good: str, target: TargetConfig, context: LoadContext) -> Rows:
    """The good rows of one output in the target's column order, with lineage, and the row
    hash (merge, scd2) and effective time (scd2 with ``effective: column:<name>``)."""
    columns: list[exp.Expr] = [col(name) for name in target.columns]
    columns += [
        exp.alias_(lit(context.file_id), FILE_ID, quoted=True),
        col(ROW),
        exp.alias_(exp.cast(lit(context.loaded_at), "timestamp"), LOADED_AT, quoted=True),
    ]
    if target.load in ("merge", "scd2"):
        columns.append(exp.alias_(row_hash(target), hash_column(target), quoted=True))
    timed = effective.row_column(target.history)
    if target.load == "scd2" and timed:
        when = exp.cast(col(timed), "timestamp")
        columns.append(exp.alias_(when, valid_from_column(target), quoted=True))
    return Rows(con, exp.select(*columns, copy=False).from_(table(good), copy=False))


def write_raw(con: Engine, wh: Warehouse, source: str, read: ReadResult, file_id: str) -> int:
    """The file's records as read into ``raw.<source>``; new columns extend the table."""
    columns = con.columns(read.table)
    lineage = [(FILE_ID, data_type("varchar"))]
    wh.ensure_raw(source, lineage + columns)
    query = exp.select(
        exp.alias_(lit(file_id), FILE_ID, quoted=True),
        *[col(name) for name, _ in columns],
        copy=False,
    ).from_(table(read.table), copy=False)
    return wh.write(source, wh.schemas.raw, Rows(con, query))


def _record_json(read: ReadResult) -> exp.Expr:
    struct = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=ident(name), expression=col(name, "r")) for name in read.columns
        ]
    )
    return exp.func("to_json", struct)


def write_quarantine(
    con: Engine,
    wh: Warehouse,
    record: FileRecord,
    read: ReadResult,
    outcome: Outcome,
) -> None:
    """Every bad row with its reasons and original values, set-wise; then unreadable lines."""
    assert record.source is not None
    ledger.insert_quarantine(wh, [_unreadable(record, bad) for bad in read.bad])
    if not outcome.rows_quarantined:
        return
    when = exp.cast(lit(record.started_at), "timestamp")
    query = (
        exp.select(
            exp.alias_(lit(record.file_id), "file_id", quoted=True),
            exp.alias_(lit(record.source), "source", quoted=True),
            col("target", "b"),
            exp.alias_(col(ROW, "b"), "row", quoted=True),
            exp.alias_(
                exp.cast(exp.func("to_json", col(REASONS, "b")), "varchar"), "reasons", quoted=True
            ),
            exp.alias_(exp.cast(_record_json(read), "varchar"), "record", quoted=True),
            exp.alias_(when, "quarantined_at", quoted=True),
            exp.alias_(lit("open"), "status", quoted=True),
            exp.alias_(exp.cast(lit(None), "timestamp"), "replayed_at", quoted=True),
        )
        .from_(exp.alias_(table(outcome.bad_table or BAD), "b"))
        .join(
            exp.alias_(table(quarantined_records(con, read)), "r"),
            on=col(ROW, "b").eq(col(ROW, "r")),
            join_type="left",
        )
        .order_by(col(ROW, "b"))
    )
    wh.write(ledger.QUARANTINE, wh.schemas.meta, Rows(con, query))


def _unreadable(record: FileRecord, bad: BadRecord) -> ledger.QuarantineRecord:
    reasons = [{"rule": "read", "column": None, "value": None, "message": bad.reason}]
    return ledger.QuarantineRecord(
        file_id=record.file_id,
        source=record.source or "",
        target=None,
        row=bad.row,
        reasons=json.dumps(reasons),
        record=json.dumps({"_line": bad.raw}, ensure_ascii=False),
        quarantined_at=record.started_at,
    )
