"""Erasure: a data subject removed or anonymised everywhere tidegate keeps it.

One request, inside the caller's transaction:

    resolve    the identifiers given (``customer_id=...``, ``email=...``) become the subject's
               stored key values and the keyed hashes of the subject and its identifiers
    records    every file record carrying the subject (the subject index, and the lineage
               of every target row matched by value) is added to ``erased_records``
    targets    every row, and so every SCD2 version, of the subject in every target that
               declares a subject, children first: deleted, or anonymised (personal
               columns NULL, keys and facts kept) by the target's ``erase`` policy
    raw        the subject's records in ``raw.<source>``: deleted or anonymised
    quarantine the quarantined rows headed for a target that declares a subject, matched
               like that target's rows (by record) and treated by its ``erase`` policy:
               emptied and marked ``erased``, or their personal fields set to null; a
               line that could not be read is searched for the subject's known values
    originals  the sealed originals of the subject's quarantined values
    vault      tokens of the subject's values that no row uses any more
    log        one row of ``erasures`` (hashes only) and the hashes in ``erased_keys``

Archived files are rewritten after the commit (``archives.py``), from ``erased_records``.
Everything is idempotent: a second run of a request finds nothing left and logs that.
The result also names the identifiers given that matched nobody, and the targets that
hold the subject's values (by mapping lineage or by name) but declare no subject, which
an erasure cannot reach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlglot import exp

from tidegate.clock import utcnow
from tidegate.errors import ConfigError
from tidegate.privacy import tables, vault
from tidegate.privacy.context import Privacy, canonical
from tidegate.privacy.policies import stored_value
from tidegate.privacy.subjects import (
    erased_file_columns,
    personal_file_columns,
    record_policy,
    undeclared_holders,
)
from tidegate.sql import col, equals, lit, table, update
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.batch import FILE_ID, ROW, count_of, full_col

Qualify = Callable[[str], exp.Expr]  # a column name -> the column of one table, qualified
QUARANTINE = "quarantine"
TOKEN = re.compile(r"tok_[0-9a-f]{24}")  # keys.TOKEN_PREFIX and TOKEN_HEX hex digits
CHUNK = 500


@dataclass
class Request:
    """One erasure request: identifier names and values (never logged)."""

    request_id: str
    identifiers: dict[str, str]
    origin: str = "command"
    subject: str | None = None  # the subject target, when the names need it
    requested_at: datetime | None = None


@dataclass
class Scope:
    """What one erasure reaches: a subject's stored keys and hashes, maybe one file only."""

    request_id: str
    origin: str
    subject: str | None = None
    keys: list[str] = field(default_factory=list)  # stored values of the subject column
    hashes: set[str] = field(default_factory=set)  # subject and identifier hashes
    subject_hashes: set[str] = field(default_factory=set)
    needles: list[str] = field(default_factory=list)  # plaintext values, for unread lines
    unmatched: list[str] = field(default_factory=list)  # identifier names that found nobody
    file_id: str | None = None
    requested_at: datetime | None = None
    archives: list[str] = field(default_factory=list)  # copies not in the ledger yet


@dataclass
class Touched:
    """What an erasure changed, for the log and the command's output."""

    targets: dict[str, dict[str, object]] = field(default_factory=dict)
    raw: dict[str, dict[str, object]] = field(default_factory=dict)
    quarantine: int = 0
    vault: int = 0
    records: int = 0
    archives: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # names only, never values

    def as_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


@dataclass
class Result:
    request_id: str
    subject: str | None  # keyed hash(es) of the subject, comma-separated
    touched: Touched
    files: list[str]  # file ids whose archived copies need rewriting
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- resolve


def resolve(wh: Warehouse, privacy: Privacy, request: Request) -> Scope:
    """The subject a request names, as stored keys and keyed hashes.

    Every identifier given leads to the same subject, and the subject to all its
    identifiers: its keys, the hashes of its other identifiers held in its rows, and every
    hash the subject index holds beside those. So ``email=...`` and ``customer_id=...`` of
    one person reach the same rows, whichever was given.
    """
    keys, graph = privacy.need_keys(), privacy.graph
    if not request.identifiers:
        raise ConfigError("subject", "an erasure needs at least one identifier: NAME=VALUE")
    found = {name: graph.resolve(name, request.subject) for name in request.identifiers}
    subjects = {i.subject for i in found.values()}
    if len(subjects) > 1:
        raise ConfigError("subject", f"the identifiers name different subjects {sorted(subjects)}")
    root = subjects.pop()
    scope = Scope(request.request_id, request.origin, subject=root)
    scope.requested_at = request.requested_at
    for name, identifier in found.items():
        spec = privacy.targets[root].columns[identifier.column]
        stored = stored_value(spec, canonical(spec, request.identifiers[name]), keys)
        scope.needles.append(request.identifiers[name])
        if identifier.is_key(graph):
            hashed, held = keys.subject_hash(root, stored), [stored]
            known = _key_held(wh, privacy, root, stored)
        else:
            hashed = keys.identifier_hash(root, identifier.column, stored)
            held = _keys_where(wh, privacy, root, identifier.column, stored)
            known = bool(held)
        scope.keys += held
        scope.hashes.add(hashed)
        if not known and not _indexed(wh, hashed):
            scope.unmatched.append(name)
    scope.keys = sorted(set(scope.keys))
    scope.subject_hashes = {keys.subject_hash(root, k) for k in scope.keys}
    scope.hashes |= scope.subject_hashes | _identifier_hashes(wh, privacy, root, scope.keys)
    scope.needles = sorted(set(scope.needles) | _plain_identifiers(wh, privacy, root, scope.keys))
    _close_over_index(wh, scope)
    return scope


def _indexed(wh: Warehouse, hashed: str) -> bool:
    """Whether a file record ever carried this hash (the index outlives an erasure, so an
    erased subject is still known; ``erased_keys`` alone is not: it also keeps the hashes
    of requests that matched nobody, for the files that may bring them later)."""
    index = exp.select(lit(1)).from_(table(tables.SUBJECT_RECORDS, wh.schemas.meta))
    index = index.where(exp.or_(col("subject").eq(lit(hashed)), col("identifier").eq(lit(hashed))))
    return bool(wh.execute(index.limit(1)))


def _key_held(wh: Warehouse, privacy: Privacy, root: str, stored: str) -> bool:
    """Whether the subject target, or a target linked to its key, holds this key value."""
    graph = privacy.graph
    holders = [(root, graph.key_of(root))] + [
        (name, str(graph.column_of(name)))
        for name in graph.bearing
        if name != root and graph.is_direct(name) and graph.root_of(name) == root
    ]
    for name, column in holders:
        if _exists(wh, name, wh.schemas.core):
            query = exp.select(lit(1)).from_(table(name, wh.schemas.core))
            if wh.execute(query.where(col(column).eq(lit(stored))).limit(1)):
                return True
    return False


def _plain_identifiers(wh: Warehouse, privacy: Privacy, root: str, stored: list[str]) -> set[str]:
    """The subject's identifiers stored as given (no ``pii`` policy): what a line that could
    not be read is searched for."""
    columns = privacy.targets[root].columns
    plain = [c for c in privacy.graph.identifiers_of(root) if columns[c].pii is None]
    found = set(stored) if privacy.graph.key_of(root) in plain else set()
    others = [c for c in plain if c != privacy.graph.key_of(root)]
    if not stored or not others or not _exists(wh, root, wh.schemas.core):
        return found
    query = exp.select(*[col(c) for c in others]).distinct().from_(table(root, wh.schemas.core))
    query = query.where(col(privacy.graph.key_of(root)).isin(*[lit(k) for k in stored]))
    return found | {str(v) for row in wh.execute(query) for v in row if v is not None}


def _exists(wh: Warehouse, name: str, schema: str) -> bool:
    return wh.columns_of(name, schema) is not None


def _keys_where(wh: Warehouse, privacy: Privacy, root: str, column: str, stored: str) -> list[str]:
    if not _exists(wh, root, wh.schemas.core):
        return []
    key = privacy.graph.key_of(root)
    query = exp.select(col(key)).distinct().from_(table(root, wh.schemas.core))
    query = query.where(col(column).eq(lit(stored))).where(exp.not_(col(key).is_(exp.null())))
    return [str(row[0]) for row in wh.execute(query)]


def _identifier_hashes(wh: Warehouse, privacy: Privacy, root: str, stored: list[str]) -> set[str]:
    """The hashes of the other identifiers (emails) held in the subject's rows."""
    keys, graph = privacy.need_keys(), privacy.graph
    others = graph.identifiers_of(root)[1:]
    if not stored or not others or not _exists(wh, root, wh.schemas.core):
        return set()
    query = exp.select(*[col(c) for c in others]).distinct().from_(table(root, wh.schemas.core))
    query = query.where(col(graph.key_of(root)).isin(*[lit(k) for k in stored]))
    found = set()
    for row in wh.execute(query):
        for column, value in zip(others, row, strict=True):
            if value is not None:
                found.add(keys.identifier_hash(root, column, str(value)))
    return found


def _close_over_index(wh: Warehouse, scope: Scope) -> None:
    """Records that carry one of the hashes carry the others of their subject too."""
    records = table(tables.SUBJECT_RECORDS, wh.schemas.meta)
    if not scope.hashes:
        return
    for column in ("subject", "identifier"):
        query = exp.select(col(column)).distinct().from_(records.copy())
        query = query.where(_carries(scope.hashes, None)).where(
            exp.not_(col(column).is_(exp.null()))
        )
        found = {str(row[0]) for row in wh.execute(query)}
        if column == "subject":
            scope.subject_hashes |= found
        scope.hashes |= found


# --------------------------------------------------------------------------- conditions


def _carries(hashes: set[str], alias: str | None) -> exp.Expr:
    values = [lit(h) for h in sorted(hashes)]
    return exp.or_(col("subject", alias).isin(*values), col("identifier", alias).isin(*values))


def record_condition(wh: Warehouse, scope: Scope, file_id: exp.Expr, row: exp.Expr) -> exp.Expr:
    """True for a record (file id, row) that carries the subject."""
    index = exp.select(lit(1)).from_(table(tables.SUBJECT_RECORDS, wh.schemas.meta).as_("_tg_i"))
    index = index.where(col("file_id", "_tg_i").eq(file_id), col("row", "_tg_i").eq(row.copy()))
    if scope.hashes:
        index = index.where(_carries(scope.hashes, "_tg_i"))
    else:
        index = index.where(exp.false())
    if scope.file_id is not None:
        index = index.where(col("file_id", "_tg_i").eq(lit(scope.file_id)))
    erased = exp.select(lit(1)).from_(table(tables.ERASED_RECORDS, wh.schemas.meta).as_("_tg_e"))
    erased = erased.where(
        col("file_id", "_tg_e").eq(file_id.copy()),
        col("row", "_tg_e").eq(row.copy()),
        col("request_id", "_tg_e").eq(lit(scope.request_id)),
    )
    return exp.or_(exp.Exists(this=index), exp.Exists(this=erased))


def value_condition(
    wh: Warehouse, privacy: Privacy, scope: Scope, name: str, column_of: Qualify
) -> exp.Expr | None:
    """Rows of ``name`` that hold the subject's key, directly or through linked rows."""
    graph = privacy.graph
    column = graph.column_of(name)
    if scope.file_id is not None or column is None or graph.root_of(name) != scope.subject:
        return None
    if graph.is_direct(name):
        return column_of(column).isin(*[lit(k) for k in scope.keys]) if scope.keys else None
    parent = graph.parent(name)
    assert parent is not None
    if not _exists(wh, parent, wh.schemas.core):
        return None
    alias = f"_tg_p{graph.depth(name)}"
    inner = condition(wh, privacy, scope, parent, lambda c: col(c, alias))
    linked = exp.select(col(graph.to_column(name), alias)).from_(
        table(parent, wh.schemas.core).as_(alias)
    )
    return column_of(column).isin(query=linked.where(inner))


def condition(
    wh: Warehouse, privacy: Privacy, scope: Scope, name: str, column_of: Qualify
) -> exp.Expr:
    by_record = record_condition(wh, scope, column_of(FILE_ID), column_of(ROW))
    by_value = value_condition(wh, privacy, scope, name, column_of)
    return by_record if by_value is None else exp.or_(by_value, by_record)


def _full(wh: Warehouse, name: str, schema: str) -> Qualify:
    target = table(name, schema)
    return lambda column: full_col(target, column)


# --------------------------------------------------------------------------- apply


def erase(wh: Warehouse, privacy: Privacy, scope: Scope) -> Result:
    """Apply one erasure scope everywhere; the caller holds the transaction."""
    tables.ensure(wh)
    touched = Touched()
    touched.records = _note_records(wh, privacy, scope)
    tokens = sorted(set(_tokens_in_use(wh, privacy, scope)) | _quarantined_tokens(wh, scope))
    for name in privacy.graph.children_first():
        _erase_target(wh, privacy, scope, name, touched)
    for name in privacy.project.sources:
        _erase_raw(wh, privacy, scope, name, touched)
    touched.quarantine = _erase_quarantine(wh, privacy, scope)
    _forget_originals(wh, scope)
    touched.vault = vault.forget(wh, _unused(wh, privacy, tokens))
    files = _files(wh, scope)
    touched.archives = sorted(set(_archive_paths(wh, files)) | set(scope.archives))
    touched.unmatched = list(scope.unmatched)
    _remember(wh, scope)
    subject = ",".join(sorted(scope.subject_hashes or scope.hashes)) or None
    _log(wh, scope, subject, touched)
    return Result(scope.request_id, subject, touched, files, _unreached(wh, privacy, scope))


def _unreached(wh: Warehouse, privacy: Privacy, scope: Scope) -> list[str]:
    """Loaded targets that hold the subject's values but declare no subject: an erasure
    does not reach them (their rows, raw records and quarantine stay), so it says so."""
    if scope.subject is None:
        return []
    held = undeclared_holders(scope.subject, privacy.graph, privacy.project.sources)
    found = []
    for name, columns in sorted(held.items()):
        if not _exists(wh, name, wh.schemas.core):
            continue
        listed = "; ".join(f"{c} ({why})" for c, why in columns.items())
        first = next(iter(columns))
        found.append(
            f"target {name!r} declares no subject but holds values of {scope.subject}: {listed};"
            f" its rows, raw records and quarantine were not erased (declare"
            f" `subject: {{column: {first}, of: {scope.subject}}}` to reach them)"
        )
    return found


def _note_records(wh: Warehouse, privacy: Privacy, scope: Scope) -> int:
    """Add the subject's records to ``erased_records``; returns how many were new."""
    erased = table(tables.ERASED_RECORDS, wh.schemas.meta)
    before = wh.count(tables.ERASED_RECORDS, wh.schemas.meta)
    index = table(tables.SUBJECT_RECORDS, wh.schemas.meta)
    if scope.hashes:
        found = exp.select(col("file_id"), col("row")).distinct().from_(index)
        found = found.where(_carries(scope.hashes, None))
        if scope.file_id is not None:
            found = found.where(col("file_id").eq(lit(scope.file_id)))
        _insert_new_records(wh, erased, found, scope.request_id)
    for name in privacy.graph.children_first():
        if scope.file_id is None and _exists(wh, name, wh.schemas.core):
            where = value_condition(wh, privacy, scope, name, lambda c: col(c))
            if where is not None:
                rows = exp.select(exp.alias_(col(FILE_ID), "file_id"), exp.alias_(col(ROW), "row"))
                rows = rows.distinct().from_(table(name, wh.schemas.core)).where(where)
                _insert_new_records(wh, erased, rows, scope.request_id)
    return wh.count(tables.ERASED_RECORDS, wh.schemas.meta) - before


def _insert_new_records(wh: Warehouse, erased: exp.Table, rows: exp.Select, request: str) -> None:
    seen = exp.select(lit(1)).from_(erased.copy().as_("_tg_e"))
    seen = seen.where(
        col("file_id", "_tg_e").eq(col("file_id", "_tg_n")),
        col("row", "_tg_e").eq(col("row", "_tg_n")),
    )
    new = exp.select(col("file_id", "_tg_n"), col("row", "_tg_n"), lit(request)).from_(
        rows.subquery("_tg_n")
    )
    new = new.where(exp.not_(exp.Exists(this=seen)))
    names = [exp.to_identifier(n, quoted=True) for n in ("file_id", "row", "request_id")]
    wh.execute(exp.insert(new, erased, columns=names))


def _erase_target(
    wh: Warehouse, privacy: Privacy, scope: Scope, name: str, touched: Touched
) -> None:
    present = wh.columns_of(name, wh.schemas.core)
    if present is None:
        return
    target = privacy.targets[name]
    where = condition(wh, privacy, scope, name, _full(wh, name, wh.schemas.core))
    into = table(name, wh.schemas.core)
    if target.erase == "delete":
        count = count_of(wh, into, where)
        if count:
            wh.execute(exp.delete(into, where=where))
        _erase_observed(wh, privacy, scope, name)
        touched.targets[name] = {"action": "delete", "rows": count}
        return
    columns = [c for c in privacy.graph.personal_columns(name) if c in present]
    row_hash = target.history.columns.row_hash
    columns += [row_hash] if row_hash in present else []
    count = _anonymise(wh, into, columns, where)
    touched.targets[name] = {"action": "anonymise", "rows": count}


def _anonymise(wh: Warehouse, into: exp.Table, columns: Sequence[str], where: exp.Expr) -> int:
    """Set ``columns`` to NULL where ``where`` holds and one of them is not NULL yet."""
    if not columns:
        return 0
    pending = exp.or_(*[exp.not_(full_col(into, c).is_(exp.null())) for c in columns])
    where = exp.and_(where, pending)
    count = count_of(wh, into, where)
    if count:
        assignments = [exp.EQ(this=col(c), expression=exp.null()) for c in columns]
        wh.execute(exp.Update(this=into, expressions=assignments, where=exp.Where(this=where)))
    return count


def _erase_observed(wh: Warehouse, privacy: Privacy, scope: Scope, name: str) -> None:
    """SCD2 keeps observation times by key beside the table: a key that is personal goes."""
    column = privacy.graph.column_of(name)
    observed = f"{name}__observed"
    present = wh.columns_of(observed, wh.schemas.meta)
    if column is None or present is None or column not in present or not scope.keys:
        return
    if not privacy.graph.is_direct(name) or scope.file_id is not None:
        return
    where = col(column).isin(*[lit(k) for k in scope.keys])
    wh.execute(exp.delete(table(observed, wh.schemas.meta), where=where))


def _raw_columns(wh: Warehouse, name: str) -> dict[str, str] | None:
    return wh.columns_of(name, wh.schemas.raw)


def _erase_raw(wh: Warehouse, privacy: Privacy, scope: Scope, name: str, touched: Touched) -> None:
    source = privacy.project.sources[name]
    present = _raw_columns(wh, name)
    if present is None or not privacy.touches(source):
        return
    raw = table(name, wh.schemas.raw)
    where = record_condition(wh, scope, full_col(raw, FILE_ID), full_col(raw, ROW))
    policy = record_policy(source, privacy.graph)
    if policy == "delete":
        count = count_of(wh, raw, where)
        if count:
            wh.execute(exp.delete(raw, where=where))
    else:
        lowered = {c.lower(): c for c in present}
        wanted = erased_file_columns(source, privacy.graph)
        columns = [lowered[c.lower()] for c in sorted(wanted) if c.lower() in lowered]
        count = _anonymise(wh, raw, columns, where)
    if count:
        touched.raw[name] = {"action": policy, "rows": count}


def _erase_quarantine(wh: Warehouse, privacy: Privacy, scope: Scope) -> int:
    """Quarantined rows, treated like the rows of the target they were headed for: only a
    target that declares a subject (or takes erasure requests) is reached, its rows by
    the records that carry the subject, and its ``erase`` policy says what happens."""
    if wh.columns_of(QUARANTINE, wh.schemas.meta) is None:
        return 0
    graph, count = privacy.graph, 0
    for name in [*graph.children_first(), *graph.erase_targets]:
        policy = "delete" if name in graph.erase_targets else privacy.targets[name].erase
        where = exp.and_(_open_quarantine(wh, scope), col("target").eq(lit(name)))
        if policy == "delete":
            count += _empty_quarantine(wh, where)
        else:
            count += _anonymise_quarantine(wh, privacy, where, name)
    return count + _erase_unread_lines(wh, scope)


def _open_quarantine(wh: Warehouse, scope: Scope) -> exp.Expr:
    """Quarantine rows not erased yet whose record carries the subject."""
    quarantine = table(QUARANTINE, wh.schemas.meta)
    carries = record_condition(
        wh, scope, full_col(quarantine, "file_id"), full_col(quarantine, "row")
    )
    return exp.and_(col("status").neq(lit("erased")), carries)


def _empty_quarantine(wh: Warehouse, where: exp.Expr) -> int:
    """``record`` ``{}``, ``reasons`` ``[]``, ``erased``: the ledger's counts still add up,
    and replay skips the row."""
    quarantine = table(QUARANTINE, wh.schemas.meta)
    count = count_of(wh, quarantine, where)
    if count:
        values = {"record": "{}", "reasons": "[]", "status": "erased"}
        assignments = [exp.EQ(this=col(k), expression=lit(v)) for k, v in values.items()]
        wh.execute(
            exp.Update(this=quarantine, expressions=assignments, where=exp.Where(this=where))
        )
    return count


def _anonymise_quarantine(wh: Warehouse, privacy: Privacy, where: exp.Expr, name: str) -> int:
    """As the target keeps its anonymised rows: the record's fields that feed personal
    columns (as in ``raw``) and the values of the reasons on personal columns become null;
    the rest stays, still open for replay."""
    quarantine = table(QUARANTINE, wh.schemas.meta)
    keys = ("file_id", "row", "status")
    query = exp.select(*[col(c) for c in (*keys, "source", "record", "reasons")])
    count = 0
    for file_id, row, status, source, record, reasons in wh.execute(
        query.from_(quarantine.copy()).where(where)
    ):
        spec = privacy.project.sources.get(str(source))
        wanted = erased_file_columns(spec, privacy.graph) if spec is not None else set()
        personal = privacy.graph.protected_columns(name)
        values = {
            "record": _nulled_fields(str(record), {c.lower() for c in wanted}),
            "reasons": _nulled_reasons(str(reasons), personal),
        }
        if values == {"record": record, "reasons": reasons}:
            continue
        identity = {"file_id": file_id, "row": row, "status": status, "target": name}
        wh.execute(update(quarantine.copy(), values, equals(identity)))
        count += 1
    return count


def _nulled_fields(record: str, wanted: set[str]) -> str:
    fields = json.loads(record)
    if not isinstance(fields, dict) or not any(k.lower() in wanted for k in fields):
        return record
    kept = {k: (None if k.lower() in wanted else v) for k, v in fields.items()}
    return record if kept == fields else json.dumps(kept, ensure_ascii=False)


def _nulled_reasons(reasons: str, personal: set[str]) -> str:
    listed = json.loads(reasons)
    hidden = [
        {**r, "value": None} if isinstance(r, dict) and _reason_columns(r) & personal else r
        for r in listed
    ]
    return reasons if hidden == listed else json.dumps(hidden, ensure_ascii=False)


def _reason_columns(reason: dict[str, object]) -> set[str]:
    """The columns a reason is about (a composite key or reference names several)."""
    return {c.strip() for c in str(reason.get("column") or "").split(",")}


def _forget_originals(wh: Warehouse, scope: Scope) -> None:
    """The sealed originals of the subject's quarantined records go, whatever target the
    rows were headed for: nothing could bring the person's values back."""
    originals = table(tables.ORIGINALS, wh.schemas.meta)
    where = record_condition(wh, scope, full_col(originals, "file_id"), full_col(originals, "row"))
    if count_of(wh, originals, where):
        wh.execute(exp.delete(originals.copy(), where=where))


def _erase_unread_lines(wh: Warehouse, scope: Scope) -> int:
    """A line that could not be read belongs to no target and no subject index: it is
    emptied when it holds one of the subject's known values (``raw_pii: keep`` keeps it)."""
    if not scope.needles:
        return 0
    matches = []
    for needle in scope.needles:
        for text in (json.dumps(needle), json.dumps(json.dumps(needle))[1:-1]):
            found = exp.StrPosition(this=col("record"), substr=lit(text))
            matches.append(exp.GT(this=found, expression=lit(0)))
    where = exp.and_(
        col("status").neq(lit("erased")), col("target").is_(exp.null()), exp.or_(*matches)
    )
    return _empty_quarantine(wh, where)


# --------------------------------------------------------------------------- tokens


def _token_columns(privacy: Privacy) -> list[tuple[str, str, str]]:
    """(schema kind, table, column) of every column that holds tokens."""
    found = [
        ("core", name, column)
        for name, target in privacy.targets.items()
        for column, spec in target.columns.items()
        if spec.pii == "tokenize" and target.load != "erase"
    ]
    if privacy.protect_raw:
        for name, source in privacy.project.sources.items():
            for column, spec in personal_file_columns(source, privacy.targets).items():
                if spec.pii == "tokenize":
                    found.append(("raw", name, column))
    return found


def _schema(wh: Warehouse, kind: str) -> str:
    return wh.schemas.core if kind == "core" else wh.schemas.raw


def _tokens_in_use(wh: Warehouse, privacy: Privacy, scope: Scope) -> list[str]:
    """Tokens in the subject's rows, found before the rows change."""
    tokens: set[str] = set()
    for kind, name, column in _token_columns(privacy):
        schema = _schema(wh, kind)
        present = wh.columns_of(name, schema)
        if present is None or column not in present:
            continue
        column_of = _full(wh, name, schema)
        where = (
            condition(wh, privacy, scope, name, column_of)
            if kind == "core"
            else record_condition(wh, scope, column_of(FILE_ID), column_of(ROW))
        )
        query = exp.select(col(column)).distinct().from_(table(name, schema)).where(where)
        tokens |= {str(row[0]) for row in wh.execute(query) if row[0] is not None}
    return sorted(tokens)


def _quarantined_tokens(wh: Warehouse, scope: Scope) -> set[str]:
    """Tokens in the subject's quarantine rows (a record or a reason may hold one that no
    target or raw row does), found before the rows change."""
    quarantine = table(QUARANTINE, wh.schemas.meta)
    if wh.columns_of(QUARANTINE, wh.schemas.meta) is None:
        return set()
    query = exp.select(col("record"), col("reasons")).from_(quarantine.copy())
    found: set[str] = set()
    for row in wh.execute(query.where(_open_quarantine(wh, scope))):
        found |= {t for text in row for t in TOKEN.findall(str(text or ""))}
    return found


def _in_quarantine(wh: Warehouse, tokens: set[str]) -> set[str]:
    """The tokens some quarantine row still shows."""
    if not tokens or wh.columns_of(QUARANTINE, wh.schemas.meta) is None:
        return set()
    quarantine = table(QUARANTINE, wh.schemas.meta)
    held = set()
    for token in sorted(tokens):
        shows = [
            exp.GT(this=exp.StrPosition(this=col(c), substr=lit(token)), expression=lit(0))
            for c in ("record", "reasons")
        ]
        if wh.execute(exp.select(lit(1)).from_(quarantine.copy()).where(exp.or_(*shows)).limit(1)):
            held.add(token)
    return held


def _unused(wh: Warehouse, privacy: Privacy, tokens: list[str]) -> list[str]:
    """The tokens no row holds any more (equal values share a token)."""
    left = set(tokens)
    left -= _in_quarantine(wh, left)
    for kind, name, column in _token_columns(privacy):
        schema = _schema(wh, kind)
        present = wh.columns_of(name, schema)
        if not left or present is None or column not in present:
            continue
        for start in range(0, len(tokens), CHUNK):
            chunk = [lit(t) for t in tokens[start : start + CHUNK]]
            query = exp.select(col(column)).distinct().from_(table(name, schema))
            left -= {str(r[0]) for r in wh.execute(query.where(col(column).isin(*chunk)))}
    return sorted(left)


# --------------------------------------------------------------------------- log


def _files(wh: Warehouse, scope: Scope) -> list[str]:
    """Files with a record of the subject: their archived copies are rewritten."""
    erased = table(tables.ERASED_RECORDS, wh.schemas.meta)
    query = exp.select(col("file_id")).distinct().from_(erased.as_("_tg_f"))
    query = query.where(record_condition(wh, scope, col("file_id", "_tg_f"), col("row", "_tg_f")))
    return sorted(str(row[0]) for row in wh.execute(query))


def _archive_paths(wh: Warehouse, files: list[str]) -> list[str]:
    from tidegate.privacy.archives import copies

    return sorted({c.archive_path for c in copies(wh, files) if c.archive_path})


def _remember(wh: Warehouse, scope: Scope) -> None:
    """The hashes a later file is matched against (``privacy.on_erased``)."""
    known = table(tables.ERASED_KEYS, wh.schemas.meta)
    hashes = sorted(scope.hashes)
    if not hashes:
        return
    present = (
        exp.select(col("hash"))
        .from_(known.copy())
        .where(col("hash").isin(*[lit(h) for h in hashes]))
    )
    seen = {str(row[0]) for row in wh.execute(present)}
    rows = [(h, scope.request_id) for h in hashes if h not in seen]
    if rows:
        values = exp.values([tuple(lit(v) for v in row) for row in rows])
        names = [exp.to_identifier(n, quoted=True) for n in ("hash", "request_id")]
        wh.execute(exp.insert(values, known, columns=names))


def _log(wh: Warehouse, scope: Scope, subject: str | None, touched: Touched) -> None:
    now = utcnow()
    row = tables.Erasure(
        scope.request_id, subject, scope.origin, scope.requested_at or now, now, touched.as_json()
    )
    names = list(row.__dict__)
    values = exp.values([tuple(lit(v) for v in row.__dict__.values())])
    columns = [exp.to_identifier(n, quoted=True) for n in names]
    wh.execute(exp.insert(values, table(tables.ERASURES, wh.schemas.meta), columns=columns))


def erase_request(
    wh: Warehouse, privacy: Privacy, request: Request, archived_as: str | None = None
) -> Result:
    """Resolve and apply one request; the caller holds the transaction. ``archived_as`` is
    where the file carrying the request is being archived."""
    ledger.ensure(wh)
    tables.ensure(wh)
    scope = resolve(wh, privacy, request)
    scope.archives = [archived_as] if archived_as else []
    return erase(wh, privacy, scope)


def on_load(
    wh: Warehouse, privacy: Privacy, file_id: str, archived_as: str | None = None
) -> Result | None:
    """Erase again the subjects of this new file that were erased before."""
    known = table(tables.ERASED_KEYS, wh.schemas.meta)
    index = table(tables.SUBJECT_RECORDS, wh.schemas.meta)
    hashes: set[str] = set()
    for column in ("subject", "identifier"):
        erased = exp.select(col("hash")).from_(known.copy())
        query = exp.select(col(column)).distinct().from_(index.copy())
        query = query.where(col("file_id").eq(lit(file_id)), col(column).isin(query=erased))
        hashes |= {str(row[0]) for row in wh.execute(query)}
    if not hashes:
        return None
    scope = Scope(f"reload:{file_id}", file_id, hashes=hashes, file_id=file_id)
    scope.archives = [archived_as] if archived_as else []
    return erase(wh, privacy, scope)
