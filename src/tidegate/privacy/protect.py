"""Before a file's rows leave the compute engine: policies applied, set-wise.

Run on the evaluated file (``prepare``), before anything is written:

    index      which records carry which subject (keyed hashes), for erasure later
    requests   the rows of ``load: erase`` targets leave the outputs: they are applied as
               erasures in the file's transaction (``hooks.committing``), never stored
    targets    each good row's pii columns get their policy (hash, mask, tokenize, drop)
    reasons    a quarantine reason shows its value as the target column would store it:
               its ``pii`` policy (a hash, a mask, a token, nothing), as given without one
    records    the file columns that feed pii columns get the strictest of those policies
               in the records kept in quarantine, and with ``raw_pii: protect`` in
               ``raw.<source>`` too; a line that could not be read is withheld (protect)
    originals  the personal values of quarantined records, before their policy: sealed
               with the vault key at the commit, so that replay can restore them

Tokens, index rows and originals wait in temporary tables of the compute engine until the
commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.config.models import ColumnSpec, OutputConfig, SourceConfig, TargetConfig
from tidegate.privacy.context import Privacy
from tidegate.privacy.keys import Keys, identifier_hash_sql, subject_hash_sql, token_sql
from tidegate.privacy.policies import policy_sql, redaction_sql
from tidegate.privacy.subjects import personal_file_columns
from tidegate.read import ReadResult
from tidegate.sql import col, column_defs, data_type, lit, table
from tidegate.transform.evaluate import BAD, Outcome
from tidegate.transform.mapping import REASONS, ROW, mapped, typed
from tidegate.transform.rules import RAW_SUFFIX, reason_struct

SUBJECTS = "_tg_privacy_subjects"  # _row, target, subject, identifier
TOKENS = "_tg_privacy_tokens"  # token, value
REQUESTS = "_tg_privacy_requests"  # target, tbl: the good rows of erase targets
ORIGINALS = "_tg_privacy_originals"  # _row, field, value: quarantined personal values
RECORDS = "_tg_privacy_records"  # the records as quarantine keeps them, under raw_pii: keep
HANDLED = "_tg_privacy_handled"  # _row: the records a replay re-evaluated
UNSEALED = "_tg_privacy_unsealed"  # _row, target, reasons: a replay's records kept
# protected only, with their quarantine reasons as they were
UNSEALED_REASON = (
    "its personal values were kept protected only (no privacy.vault_key when it was"
    " quarantined): replaying the protected value would load it protected twice"
)
WITHHELD_LINE = "<withheld: raw_pii is protect>"
TEMPORARY = exp.Properties(expressions=[exp.TemporaryProperty()])


def prepare(
    con: Engine,
    privacy: Privacy,
    source: SourceConfig,
    read: ReadResult,
    outcome: Outcome,
    *,
    replay: bool = False,
) -> None:
    """Protect one evaluated file in place (see the module docstring). A replay's records
    hold the originals ``restore`` could unseal (listed in ``ORIGINALS``): only those are
    protected again, so a value kept protected is never protected twice."""
    if not privacy.active:
        return
    _reset(con, replay=replay)
    keys = privacy.keys
    if not replay and keys is not None:
        _index(con, privacy, keys, source, read)
    _set_aside_requests(con, privacy, outcome)
    outcome.outputs = [
        (output, _apply_policies(con, privacy, output, good, index))
        for index, (output, good) in enumerate(outcome.outputs)
    ]
    bad = outcome.bad_table or BAD
    _redact_reasons(con, privacy, bad, [o.target for o in source.outputs])
    feeds = _fed(source, privacy, read)
    if replay:
        _hold_unsealed(con, outcome, bad)
        # the records whose originals came back: sealed again below, or not at all
        restored = exp.select(col(ROW)).distinct().from_(table(ORIGINALS))
        con.execute(exp.insert(restored, table(HANDLED)))
        _protect_records(con, privacy, read.table, feeds, only_restored=True)
    else:
        _keep_originals(con, read.table, feeds, bad)
        _protect_file(con, privacy, read, feeds, bad)
    # only the records still quarantined keep their originals
    con.execute(exp.delete(table(ORIGINALS), where=exp.not_(col(ROW).isin(query=_bad_rows(bad)))))


def _protect_file(
    con: Engine,
    privacy: Privacy,
    read: ReadResult,
    feeds: dict[str, ColumnSpec],
    bad: str,
) -> None:
    """The records as raw and quarantine keep them: with ``raw_pii: protect`` the read
    table itself (and unreadable lines withheld); with ``keep`` a protected copy of the
    quarantined records only, since the raw layer keeps them as read."""
    if privacy.protect_raw:
        _protect_records(con, privacy, read.table, feeds, only_restored=False)
        for index, line in enumerate(read.bad):
            read.bad[index] = replace(line, raw=WITHHELD_LINE)
        return
    quarantined = exp.select(exp.Star()).from_(table(read.table))
    con.create(RECORDS, quarantined.where(col(ROW).isin(query=_bad_rows(bad))))
    _protect_records(con, privacy, RECORDS, feeds, only_restored=False)


def raw_as_read(privacy: Privacy, source: SourceConfig, columns: Sequence[str]) -> bool:
    """Whether ``raw.<source>`` keeps a file with these columns as read: not when
    ``raw_pii: protect`` gives a column that feeds a pii column its policy there
    (``_protect_file``, on the read table, before the raw layer is written)."""
    if not privacy.active or not privacy.protect_raw:
        return True
    return not fed_columns(source, privacy, columns)


def quarantined_records(con: Engine, read_table: str) -> str:
    """The table quarantine takes a file's records from: its own protected copy when
    ``raw_pii: keep`` leaves the read table as read, else the read table itself."""
    found = any(r.name == RECORDS and not r.view for r in con.work_relations())
    return RECORDS if found else read_table


def _bad_rows(bad: str) -> exp.Select:
    return exp.select(col(ROW)).distinct().from_(table(bad))


def _fed(source: SourceConfig, privacy: Privacy, read: ReadResult) -> dict[str, ColumnSpec]:
    return fed_columns(source, privacy, read.columns)


def fed_columns(
    source: SourceConfig, privacy: Privacy, columns: Sequence[str]
) -> dict[str, ColumnSpec]:
    """Read column (as the file spells it) -> the strictest pii spec among what it feeds."""
    names = {c.lower(): c for c in columns}
    feeds = personal_file_columns(source, privacy.targets)
    return {names[c.lower()]: spec for c, spec in feeds.items() if c.lower() in names}


def _keep_originals(con: Engine, read_table: str, feeds: dict[str, ColumnSpec], bad: str) -> None:
    """The personal values of the quarantined records, before any policy, as text."""
    for column in feeds:
        value = exp.cast(col(column), "varchar")
        query = exp.select(col(ROW), lit(column), value).from_(table(read_table))
        query = query.where(col(ROW).isin(query=_bad_rows(bad)), exp.not_(value.is_(exp.null())))
        con.execute(exp.insert(query, table(ORIGINALS)))


def _create(con: Engine, name: str, columns: list[tuple[str, str]]) -> None:
    con.execute(exp.Drop(tables=[table(name)], kind="TABLE", exists=True))
    schema = exp.Schema(
        this=table(name), expressions=column_defs([(c, data_type(k)) for c, k in columns])
    )
    con.execute(exp.Create(this=schema, kind="TABLE", properties=TEMPORARY))


def _reset(con: Engine, *, replay: bool = False) -> None:
    _create(
        con,
        SUBJECTS,
        [(ROW, "bigint"), ("target", "varchar"), ("subject", "varchar"), ("identifier", "varchar")],
    )
    _create(con, TOKENS, [("token", "varchar"), ("value", "varchar")])
    _create(con, REQUESTS, [("target", "varchar"), ("tbl", "varchar")])
    _create(con, HANDLED, [(ROW, "bigint")])
    con.execute(exp.Drop(tables=[table(RECORDS)], kind="TABLE", exists=True))
    if not replay:  # a replay's originals were restored before its evaluation
        create_originals(con)


def create_originals(con: Engine) -> None:
    _create(con, ORIGINALS, [(ROW, "bigint"), ("field", "varchar"), ("value", "varchar")])
    _create(con, UNSEALED, [(ROW, "bigint"), ("target", "varchar"), ("reasons", "varchar")])


def note_unsealed(con: Engine, rows: list[tuple[int, str | None, str]]) -> None:
    """The replayed records kept protected only, with their quarantine rows as they are:
    (row, target, reasons as JSON)."""
    _create(con, UNSEALED, [(ROW, "bigint"), ("target", "varchar"), ("reasons", "varchar")])
    values = exp.values([(lit(r), lit(t), lit(j)) for r, t, j in rows])
    con.execute(exp.insert(values, table(UNSEALED)))


def _hold_unsealed(con: Engine, outcome: Outcome, bad: str) -> None:
    """A replayed record whose personal values were kept protected only is not replayed:
    evaluating the protected value would load it, or explain it, protected twice. Its
    quarantine rows come back as they were, with one reason more that says why."""
    held = exp.select(col(ROW)).distinct().from_(table(UNSEALED))
    if not con.execute(held):
        return
    con.execute(exp.delete(table(bad), where=col(ROW).isin(query=held.copy())))
    parsed = exp.func("from_json", col("reasons"), lit(json_shape()))
    why = reason_struct("sealed", "", exp.cast(exp.null(), "varchar"), lit(UNSEALED_REASON))
    reasons = exp.func("list_append", parsed, why)
    rows = exp.select(col(ROW), col("target"), reasons).from_(table(UNSEALED))
    con.execute(exp.insert(rows, table(bad)))
    kept = []
    for index, (output, good) in enumerate(outcome.outputs):
        name = f"_tg_privacy_kept_{index}"
        others = exp.select(exp.Star()).from_(table(good))
        con.create(name, others.where(exp.not_(col(ROW).isin(query=held.copy()))))
        kept.append((output, name))
    outcome.outputs = kept
    counted = exp.select(exp.Count(this=exp.Distinct(expressions=[col(ROW)]))).from_(table(bad))
    outcome.rows_quarantined = int(str(con.execute(counted)[0][0]))


def json_shape() -> str:
    """The JSON shape of a list of reasons, for ``from_json``."""
    fields = ", ".join(f'"{k}": "VARCHAR"' for k in ("rule", "column", "value", "message"))
    return f"[{{{fields}}}]"


# --------------------------------------------------------------------------- index


def _text(column: str) -> exp.Expr:
    """The typed value as text, or the mapped value when it did not convert."""
    return exp.Coalesce(
        this=exp.cast(col(column), "varchar"),
        expressions=[exp.cast(col(column + RAW_SUFFIX), "varchar")],
    )


def _stored(spec: ColumnSpec, column: str, keys: Keys) -> exp.Expr:
    value = _text(column)
    return policy_sql(spec, value, keys) if spec.pii in ("hash", "tokenize") else value


def _index_columns(
    privacy: Privacy, name: str
) -> tuple[str, str | None, list[tuple[str, str]]] | None:
    """(subject target, column holding its key, [(column, identifier column)]) of an output."""
    graph = privacy.graph
    if name in graph.roots:
        others = graph.identifiers_of(name)[1:]
        return name, graph.key_of(name), [(c, c) for c in others]
    if name in graph.erase_targets:
        found = graph.erase_identifiers(name)
        roots = {i.subject for i in found.values()}
        if len(roots) != 1:
            return None
        root = roots.pop()
        key = next((c for c, i in found.items() if i.is_key(graph)), None)
        return root, key, [(c, i.column) for c, i in found.items() if not i.is_key(graph)]
    parent = graph.parent(name)
    if parent is not None and graph.is_direct(name):
        return parent, graph.column_of(name), []
    return None


def _index(
    con: Engine,
    privacy: Privacy,
    keys: Keys,
    source: SourceConfig,
    read: ReadResult,
) -> None:
    for output in source.outputs:
        found = _index_columns(privacy, output.target)
        if found is not None:
            _index_output(con, privacy, keys, source, read, output, found)


def _index_output(
    con: Engine,
    privacy: Privacy,
    keys: Keys,
    source: SourceConfig,
    read: ReadResult,
    output: OutputConfig,
    found: tuple[str, str | None, list[tuple[str, str]]],
) -> None:
    root, key, identifiers = found
    full = privacy.targets[output.target]
    needed = [c for c in [key, *(c for c, _ in identifiers)] if c is not None]
    # only the identifying columns: the mapping of the others is not needed here
    target = full.model_copy(update={"columns": {c: full.columns[c] for c in needed}})
    query = typed(mapped(read.table, source.derive, output, target), output, target)
    rows = query.subquery("_tg_t")
    subject: exp.Expr = exp.cast(exp.null(), "varchar")
    root_columns = privacy.targets[root].columns
    if key is not None:
        # The key as the subject's own target stores it: an erasure request's column may
        # hash what the subject keeps plain, and the hash must be of the subject's form.
        spec = root_columns[privacy.graph.key_of(root)]
        subject = subject_hash_sql(keys, root, _stored(spec, key, keys))
    selects = [_index_select(rows, output.target, subject, exp.cast(exp.null(), "varchar"))]
    for column, identifier in identifiers:
        stored = _stored(root_columns[identifier], column, keys)
        hashed = identifier_hash_sql(keys, root, identifier, stored)
        selects.append(_index_select(rows.copy(), output.target, subject.copy(), hashed))
    con.execute(
        exp.insert(
            exp.union(*selects, distinct=False) if len(selects) > 1 else selects[0], table(SUBJECTS)
        ),
    )


def _index_select(
    rows: exp.Expr, target: str, subject: exp.Expr, identifier: exp.Expr
) -> exp.Select:
    query = exp.select(
        col(ROW), lit(target), exp.alias_(subject, "subject"), exp.alias_(identifier, "identifier")
    ).from_(rows)
    inner = exp.select(exp.Star()).from_(query.subquery("_tg_s"))
    inner = inner.where(
        exp.or_(
            exp.not_(col("subject").is_(exp.null())), exp.not_(col("identifier").is_(exp.null()))
        )
    )
    return inner.distinct()


# --------------------------------------------------------------------------- outputs


def _set_aside_requests(con: Engine, privacy: Privacy, outcome: Outcome) -> None:
    kept = []
    for output, good in outcome.outputs:
        if output.target in privacy.graph.erase_targets:
            row = exp.values([(lit(output.target), lit(good))])
            con.execute(exp.insert(row, table(REQUESTS)))
        else:
            kept.append((output, good))
    outcome.outputs = kept


def _apply_policies(
    con: Engine, privacy: Privacy, output: OutputConfig, good: str, index: int
) -> str:
    """The good rows with each pii column (and its mapped value) under its policy."""
    target = privacy.targets[output.target]
    personal = {c: s for c, s in target.columns.items() if s.pii}
    if not personal:
        return good
    keys = privacy.keys
    for column, spec in personal.items():
        if spec.pii == "tokenize":
            _collect_tokens(con, privacy.need_keys(), col(column), good)
    replaced = [
        exp.alias_(policy_sql(s, col(c), keys), c, quoted=True) for c, s in personal.items()
    ]
    replaced += [
        exp.alias_(exp.cast(exp.null(), "varchar"), c + RAW_SUFFIX, quoted=True) for c in personal
    ]
    name = f"_tg_private_{index}"
    con.create(name, exp.select(exp.Star(replace=replaced)).from_(table(good)))
    return name


def _collect_tokens(con: Engine, keys: Keys, value: exp.Expr, source: str) -> None:
    """Remember (token, value) for the vault, for each distinct value of ``source``."""
    text = exp.cast(value, "varchar")
    pairs = (
        exp.select(exp.alias_(token_sql(keys, text), "token"), exp.alias_(text.copy(), "value"))
        .distinct()
        .from_(table(source))
        .where(exp.not_(text.copy().is_(exp.null())))
    )
    con.execute(exp.insert(pairs, table(TOKENS)))


def _reasons_for(privacy: Privacy, target: TargetConfig, name: str) -> dict[str, ColumnSpec | None]:
    """Reason column labels whose values are hidden, with the spec that says how: a pii
    column's own policy; a composite label with a pii column, or a column of an erase
    target without a policy (its values are never stored anywhere), by a short keyed hash.
    A subject's identifier without a ``pii`` policy is stored as given, so shown as given."""
    labels: dict[str, ColumnSpec | None] = {c: s for c, s in target.columns.items() if s.pii}
    if target.load == "erase":
        labels |= {c: None for c, s in target.columns.items() if not s.pii}
    personal = set(labels)
    composite = [target.key, *[r.columns for r in target.references]]
    for columns in composite:
        if len(columns) > 1 and personal & set(columns):
            labels[", ".join(columns)] = None
    return labels


def _field(key: str) -> exp.Expr:
    return exp.func("struct_extract", exp.column("_tg_r"), lit(key))


def _shown(spec: ColumnSpec | None, keys: Keys | None) -> exp.Expr:
    """A reason's value as the column stores it (its policy), or a short keyed hash."""
    if spec is None:
        return redaction_sql(None, _field("value"), keys)
    return policy_sql(spec.model_copy(update={"type": "varchar"}), _field("value"), keys)


def _redacted_reason(spec: ColumnSpec | None, keys: Keys | None) -> exp.Struct:
    """The reason struct with its value as quarantine may show it."""
    fields = {"rule": _field("rule"), "column": _field("column"), "value": _shown(spec, keys)}
    fields["message"] = _field("message")
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(k), expression=v) for k, v in fields.items()
        ]
    )


def _redact_reasons(con: Engine, privacy: Privacy, bad: str, names: list[str]) -> None:
    """Reasons of pii columns show what the column would store, never the value itself."""
    present = con.execute(exp.select(col("target")).distinct().from_(table(bad)))
    for name in sorted({str(r[0]) for r in present} & set(names)):
        labels = _reasons_for(privacy, privacy.targets[name], name)
        if not labels:
            continue
        for label, spec in labels.items():
            if spec is not None and spec.pii == "tokenize":
                _collect_reason_tokens(con, privacy.need_keys(), bad, name, label)
        ifs = [
            exp.If(this=_field("column").eq(lit(label)), true=_redacted_reason(spec, privacy.keys))
            for label, spec in labels.items()
        ]
        hide = exp.Lambda(
            this=exp.Case(ifs=ifs, default=exp.column("_tg_r")),
            expressions=[exp.to_identifier("_tg_r")],
        )
        redacted = exp.func("list_transform", col(REASONS), hide)
        update = exp.Update(
            this=table(bad),
            expressions=[exp.EQ(this=col(REASONS), expression=redacted)],
            where=exp.Where(this=col("target").eq(lit(name))),
        )
        con.execute(update)


def _collect_reason_tokens(con: Engine, keys: Keys, bad: str, target: str, label: str) -> None:
    """A token shown in a reason can be revealed like the column's: its value goes to the
    vault too."""
    reasons = exp.select(exp.alias_(exp.func("unnest", col(REASONS)), "_tg_r")).from_(table(bad))
    reasons = reasons.where(col("target").eq(lit(target)))
    values = exp.select(exp.alias_(_field("value"), "value")).from_(reasons.subquery("_tg_u"))
    values = values.where(_field("column").eq(lit(label)))
    con.create("_tg_privacy_reason_values", values)
    _collect_tokens(con, keys, col("value"), "_tg_privacy_reason_values")


# --------------------------------------------------------------------------- raw


def as_text(con: Engine, name: str, column: str) -> None:
    retype = exp.AlterColumn(
        this=exp.to_identifier(column, quoted=True), dtype=data_type("varchar")
    )
    con.execute(exp.Alter(this=table(name), kind="TABLE", actions=[retype]))


def _protect_records(
    con: Engine,
    privacy: Privacy,
    name: str,
    feeds: dict[str, ColumnSpec],
    *,
    only_restored: bool,
) -> None:
    """Records with their pii-feeding file columns under the strictest policy they feed;
    ``only_restored``: just the values listed in ``ORIGINALS`` (a replay's unsealed ones)."""
    kinds = {str(r[0]): str(r[1]) for r in con.execute(exp.Describe(this=table(name)))}
    assignments = []
    for column, spec in feeds.items():
        value = exp.cast(col(column), "varchar")
        if spec.pii == "tokenize":
            _collect_tokens(con, privacy.need_keys(), value, name)
        text_spec = spec.model_copy(update={"type": "varchar"})
        protected = policy_sql(text_spec, value.copy(), privacy.keys)
        if only_restored:
            restored = exp.select(lit(1)).from_(table(ORIGINALS).as_("_tg_o"))
            restored = restored.where(
                col(ROW, "_tg_o").eq(col(ROW, name)), col("field", "_tg_o").eq(lit(column))
            )
            protected = exp.Case(
                ifs=[exp.If(this=exp.Exists(this=restored), true=protected)],
                default=value.copy(),
            )
        if kinds.get(column, "").upper() != "VARCHAR":
            as_text(con, name, column)  # a hash or token of a nested value is text
        assignments.append(exp.EQ(this=col(column), expression=protected))
    if assignments:
        con.execute(exp.Update(this=table(name), expressions=assignments))
