"""The privacy tables of the metadata schema. None holds a personal value.

subject_records  which file records carry which subject: (file_id, row) -> keyed hashes
                 of the subject and of its other identifiers; written with each file
erasures         the erasure log: request id, keyed hash of the subject, when, what
                 was touched (JSON); one row per request, also for requests that
                 touched nothing
erased_keys      keyed hashes of every erased subject and identifier: a later file
                 carrying one of them is erased again on load
erased_records   the file records whose personal values were erased, so that archived
                 copies (and re-delivered copies of them) are rewritten the same way
quarantine_originals
                 the personal values of quarantined records before their policy, each
                 sealed with the vault key (AES-GCM, bound to its file, row and field):
                 what replay restores; erased with the subject
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp

from tidegate.privacy import vault
from tidegate.sql import data_type
from tidegate.warehouse.base import Warehouse

SUBJECT_RECORDS = "subject_records"
ERASURES = "erasures"
ERASED_KEYS = "erased_keys"
ERASED_RECORDS = "erased_records"
ORIGINALS = "quarantine_originals"

Columns = list[tuple[str, exp.DataType]]


def _columns(**kinds: str) -> Columns:
    return [(name, data_type(kind)) for name, kind in kinds.items()]


TABLES: dict[str, Columns] = {
    SUBJECT_RECORDS: _columns(
        file_id="varchar", row="bigint", target="varchar", subject="varchar", identifier="varchar"
    ),
    ERASURES: _columns(
        request_id="varchar",
        subject="varchar",
        origin="varchar",
        requested_at="timestamp",
        erased_at="timestamp",
        touched="varchar",
    ),
    ERASED_KEYS: _columns(hash="varchar", request_id="varchar"),
    ERASED_RECORDS: _columns(file_id="varchar", row="bigint", request_id="varchar"),
    ORIGINALS: _columns(file_id="varchar", row="bigint", field="varchar", ciphertext="varchar"),
}
INDEXES = {
    SUBJECT_RECORDS: [["file_id", "row"], ["subject"], ["identifier"]],
    ERASED_RECORDS: [["file_id", "row"], ["request_id"]],
    ERASED_KEYS: [["hash"]],
    ORIGINALS: [["file_id", "row"]],
}


@dataclass
class Erasure:
    """One row of the erasure log."""

    request_id: str
    subject: str | None
    origin: str
    requested_at: datetime
    erased_at: datetime
    touched: str


def ensure(wh: Warehouse) -> None:
    """Create the privacy tables and their indexes (idempotent); the vault comes last, so
    when it exists, so does everything else (the originals table came later: asked too)."""
    meta = wh.schemas.meta
    if wh.columns_of(vault.VAULT, meta) is not None and wh.columns_of(ORIGINALS, meta):
        return
    wh.ensure_schema(meta)
    for name, columns in TABLES.items():
        created = wh.columns_of(name, meta) is None
        wh.ensure_table(name, meta, columns)
        for index in INDEXES.get(name, []) if created else []:
            wh.ensure_join_index(name, meta, f"{name}__{'_'.join(index)}", index)
    vault.ensure(wh)
