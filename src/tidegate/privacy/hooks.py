"""Where the per-file flow calls privacy: six calls, each a no-op for a project without
pii columns or subjects.

    raw_as_read before a read writes a file's records into the raw layer itself: whether
                the raw layer keeps them as read (no policy of raw_pii: protect on them)
    lookup      references: an erased subject still counts as existing, so a late fact
                about them loads (and is anonymised) instead of being quarantined
    prepare     after evaluation: policies on the rows, the records and the reasons
    committing  inside the file's transaction: vault entries, the sealed originals of
                quarantined values, the subject index, erasure requests of the file, and
                erasing again subjects erased before
    restore     replay, before evaluation: the sealed originals back into the records
    archived    after the file reached the archive: erased records rewritten in it, and in
                the archived files the file's erasures reached
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import pyarrow as pa
from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.config.models import Project, Reference, SourceConfig
from tidegate.privacy import archives, erase, protect, storage, tables, vault
from tidegate.privacy.context import Privacy, canonical
from tidegate.privacy.keys import SEPARATOR
from tidegate.privacy.policies import stored_value
from tidegate.read import ReadResult
from tidegate.sql import col, data_type, lit, table
from tidegate.transform.evaluate import Outcome
from tidegate.transform.mapping import ROW
from tidegate.transform.references import Lookup
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.ledger import FileRecord
from tidegate.warehouse.lookup import existing

Values = Sequence[tuple[object, ...]]
CHUNK = 500


def prepare(
    con: Engine,
    project: Project,
    source: SourceConfig,
    read: ReadResult,
    outcome: Outcome,
    *,
    replay: bool = False,
) -> None:
    protect.prepare(con, Privacy.of(project), source, read, outcome, replay=replay)


def committing(con: Engine, wh: Warehouse, project: Project, record: FileRecord) -> None:
    """Inside the file's transaction, after its rows, raw records and quarantine."""
    privacy = Privacy.of(project)
    if not privacy.active:
        return
    tables.ensure(wh)
    _store_tokens(con, wh, privacy)
    _store_originals(con, wh, privacy, record.file_id)
    _store_index(con, wh, privacy, record.file_id)
    source = project.sources.get(record.source or "")
    requests = _requests(con, privacy, record.file_id)
    if requests:
        for request in requests:
            erase.erase_request(wh, privacy, request, record.archive_path)
    elif source is not None and project.config.privacy.on_erased == "erase":
        erase.on_load(wh, privacy, record.file_id, record.archive_path)


def raw_as_read(project: Project, source: SourceConfig, columns: Sequence[str]) -> bool:
    """Whether the raw layer keeps a file with these columns exactly as read, so that a
    read may write its records there directly. When it does not (``raw_pii: protect`` and
    a column feeding a pii column), the records are protected in the compute engine first:
    a personal value is protected before anything is stored, never written to the
    warehouse plain, not even inside a transaction that would protect it before its commit
    (a large insert's row groups go to the warehouse's file before the commit)."""
    return protect.raw_as_read(Privacy.of(project), source, columns)


def quarantined_records(con: Engine, read: ReadResult) -> str:
    """The table the quarantine takes a file's records from (``protect.quarantined_records``)."""
    return protect.quarantined_records(con, read.table)


def restore(con: Engine, wh: Warehouse, project: Project, file_id: str, read: ReadResult) -> int:
    """Before a replay's evaluation: the quarantined records get their personal values back
    from their sealed originals (so rules see the real value, and the policy applies once).
    Without the vault key, or for a value never sealed, the protected value stays."""
    privacy = Privacy.of(project)
    if not privacy.active:
        return 0
    protect.create_originals(con)
    if wh.columns_of(tables.ORIGINALS, wh.schemas.meta) is None:
        return 0
    rows = [int(str(r[0])) for r in con.execute(exp.select(col(ROW)).from_(table(read.table)))]
    sealed = _sealed(wh, file_id, rows)
    vault_key = project.config.privacy.vault_key
    unsealed = sorted({r for r, _, c in sealed if c is None or not vault_key})
    if unsealed:
        protect.note_unsealed(con, _open_rows(wh, file_id, unsealed))
    sealed = [(r, f, c) for r, f, c in sealed if c is not None and vault_key]
    if not sealed or not vault_key:
        return 0
    aes = vault.cipher(vault_key)
    opened = [
        (row, f, vault.decrypt(aes, _binding(file_id, row, f), str(c))) for row, f, c in sealed
    ]
    batch = pa.table(
        {
            ROW: pa.array([r for r, _, _ in opened], pa.int64()),
            "field": pa.array([f for _, f, _ in opened], pa.string()),
            "value": pa.array([v for _, _, v in opened], pa.string()),
        }
    )
    con.register("_tg_privacy_opened", batch)
    con.execute(
        exp.insert(
            exp.select(exp.Star()).from_(table("_tg_privacy_opened")), table(protect.ORIGINALS)
        ),
    )
    con.unregister("_tg_privacy_opened")
    _put_back(con, read.table, sorted({f for _, f, _ in opened} & set(read.columns)))
    return len(opened)


def _binding(file_id: str, row: int, field: str) -> str:
    """What a sealed original is bound to (AES-GCM associated data): it opens only there."""
    return f"quarantine{SEPARATOR}{file_id}{SEPARATOR}{row}{SEPARATOR}{field}"


def _sealed(wh: Warehouse, file_id: str, rows: list[int]) -> list[tuple[int, str, str | None]]:
    found: list[tuple[int, str, str | None]] = []
    originals = table(tables.ORIGINALS, wh.schemas.meta)
    for start in range(0, len(rows), CHUNK):
        chunk = [lit(r) for r in rows[start : start + CHUNK]]
        query = exp.select(col("row"), col("field"), col("ciphertext")).from_(originals.copy())
        query = query.where(col("file_id").eq(lit(file_id)), col("row").isin(*chunk))
        found += [
            (int(str(r)), str(f), None if c is None else str(c)) for r, f, c in wh.execute(query)
        ]
    return found


def _open_rows(wh: Warehouse, file_id: str, rows: list[int]) -> list[tuple[int, str | None, str]]:
    """(row, target, reasons) of these records' open quarantine rows."""
    quarantine = table(ledger.QUARANTINE, wh.schemas.meta)
    found: list[tuple[int, str | None, str]] = []
    for start in range(0, len(rows), CHUNK):
        chunk = [lit(r) for r in rows[start : start + CHUNK]]
        query = exp.select(col("row"), col("target"), col("reasons")).from_(quarantine.copy())
        query = query.where(
            col("file_id").eq(lit(file_id)), col("status").eq(lit("open")), col("row").isin(*chunk)
        )
        found += [
            (int(str(r)), None if t is None else str(t), str(j)) for r, t, j in wh.execute(query)
        ]
    return found


def _put_back(con: Engine, name: str, fields: list[str]) -> None:
    kinds = {str(r[0]): str(r[1]) for r in con.execute(exp.Describe(this=table(name)))}
    for field in fields:
        kind = kinds[field].strip('"').lower()
        if kind == "null":  # a column no record had a value in: it takes text now
            protect.as_text(con, name, field)
            kind = "varchar"
        value = exp.select(exp.cast(col("value", "_tg_o"), data_type(kind)))
        value = value.from_(table(protect.ORIGINALS).as_("_tg_o")).where(
            col(ROW, "_tg_o").eq(col(ROW, name)), col("field", "_tg_o").eq(lit(field))
        )
        restored = exp.select(col(ROW)).from_(table(protect.ORIGINALS))
        restored = restored.where(col("field").eq(lit(field)))
        con.execute(
            exp.Update(
                this=table(name),
                expressions=[exp.EQ(this=col(field), expression=value.subquery())],
                where=exp.Where(this=col(ROW).isin(query=restored)),
            ),
        )


def archived(wh: Warehouse, project: Project, record: FileRecord) -> None:
    """After the file's move to the archive."""
    privacy = Privacy.of(project)
    if not privacy.active or wh.columns_of(tables.ERASURES, wh.schemas.meta) is None:
        return
    files = {record.duplicate_of or record.file_id, *archives.pending_files(wh, record.file_id)}
    archives.rewrite(wh, privacy, sorted(files))


def finished(wh: Warehouse, project: Project) -> None:
    """At the end of a run: one rewrite of the storage for all the run's erasures."""
    privacy = Privacy.of(project)
    if privacy.active:
        storage.forget(wh, privacy)


def lookup(wh: Warehouse, project: Project) -> Lookup:
    """``existing``, where an erased subject's identifier also counts as found."""
    privacy = Privacy.of(project)
    if not privacy.graph.roots:
        return partial(existing, wh)
    return partial(_existing_or_erased, wh, privacy)


def _existing_or_erased(
    wh: Warehouse, privacy: Privacy, reference: Reference, values: Values
) -> set[tuple[object, ...]]:
    found = existing(wh, reference, values)
    root, columns = (
        reference.target,
        reference.target_columns or privacy.targets[reference.target].key,
    )
    keys = privacy.keys
    if root not in privacy.graph.roots or len(columns) != 1 or keys is None:
        return found
    if wh.columns_of(tables.ERASED_KEYS, wh.schemas.meta) is None:
        return found
    column, graph = columns[0], privacy.graph
    if column not in graph.identifiers_of(root):
        return found
    spec = privacy.targets[root].columns[column]
    hashes: dict[str, tuple[object, ...]] = {}
    for value in values:
        if value in found or value[0] is None:
            continue
        stored = stored_value(spec, canonical(spec, str(value[0])), keys)
        hashed = (
            keys.subject_hash(root, stored)
            if column == graph.key_of(root)
            else keys.identifier_hash(root, column, stored)
        )
        hashes[hashed] = value
    return found | {hashes[h] for h in _erased(wh, list(hashes))}


def _erased(wh: Warehouse, hashes: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(hashes), 500):
        chunk = [lit(h) for h in hashes[start : start + 500]]
        query = exp.select(col("hash")).from_(table(tables.ERASED_KEYS, wh.schemas.meta))
        found |= {str(r[0]) for r in wh.execute(query.where(col("hash").isin(*chunk)))}
    return found


# --------------------------------------------------------------------------- commit


def _store_tokens(con: Engine, wh: Warehouse, privacy: Privacy) -> None:
    pairs = con.execute(
        exp.select(col("token"), col("value")).distinct().from_(table(protect.TOKENS))
    )
    if pairs:
        aes = vault.cipher(privacy.project.config.privacy.vault_key)
        vault.store(wh, aes, [(str(t), str(v)) for t, v in pairs])


def _store_originals(con: Engine, wh: Warehouse, privacy: Privacy, file_id: str) -> None:
    """The personal values of this file's quarantined records, sealed with the vault key;
    a replay first drops the sealed values of the records it re-evaluated."""
    originals = table(tables.ORIGINALS, wh.schemas.meta)
    handled = sorted(
        int(str(r[0])) for r in con.execute(exp.select(col(ROW)).from_(table(protect.HANDLED)))
    )
    for start in range(0, len(handled), CHUNK):
        chunk = [lit(r) for r in handled[start : start + CHUNK]]
        where = exp.and_(col("file_id").eq(lit(file_id)), col("row").isin(*chunk))
        wh.execute(exp.delete(originals.copy(), where=where))
    values = exp.select(col(ROW), col("field"), col("value")).from_(table(protect.ORIGINALS))
    rows = [(int(str(r)), str(f), str(v)) for r, f, v in con.execute(values)]
    if not rows:
        return
    # Without the vault key a value is kept protected only: its row is noted (with no
    # ciphertext), so that replay holds it back instead of protecting it a second time.
    vault_key = privacy.project.config.privacy.vault_key
    aes = vault.cipher(vault_key) if vault_key else None
    sealed = [
        vault.encrypt(aes, _binding(file_id, r, f), v) if aes is not None else None
        for r, f, v in rows
    ]
    batch = pa.table(
        {
            "file_id": pa.array([file_id] * len(rows), pa.string()),
            "row": pa.array([r for r, _, _ in rows], pa.int64()),
            "field": pa.array([f for _, f, _ in rows], pa.string()),
            "ciphertext": pa.array(sealed, pa.string()),
        }
    )
    wh.write(tables.ORIGINALS, wh.schemas.meta, batch.to_reader())


def _store_index(con: Engine, wh: Warehouse, privacy: Privacy, file_id: str) -> None:
    query = exp.select(
        exp.alias_(lit(file_id), "file_id", quoted=True),
        exp.alias_(col(ROW), "row", quoted=True),
        col("target"),
        col("subject"),
        col("identifier"),
    ).from_(table(protect.SUBJECTS))
    wh.write(tables.SUBJECT_RECORDS, wh.schemas.meta, Rows(con, query))


def _requests(con: Engine, privacy: Privacy, file_id: str) -> list[erase.Request]:
    """The erasure requests of this file, one per row of its erase targets' good rows."""
    found = []
    listed = exp.select(col("target"), col("tbl")).from_(table(protect.REQUESTS))
    for target_name, good in con.execute(listed):
        target = privacy.targets[str(target_name)]
        columns = list(target.columns)
        query = exp.select(col(ROW), *[col(c) for c in columns]).from_(table(str(good)))
        for number, *values in con.execute(query.order_by(col(ROW))):
            identifiers = {c: str(v) for c, v in zip(columns, values, strict=True) if v is not None}
            if identifiers:
                of = target.subject.of if target.subject else None
                request = erase.Request(f"{file_id}:{number}", identifiers, file_id, of)
                found.append(request)
    return found
