"""Before a file's rows leave the compute engine: policies applied, set-wise.

Run on the evaluated file (``prepare``), before anything is written:

    index      which records carry which subject (keyed hashes), for erasure later
    requests   the rows of ``load: erase`` targets leave the outputs: they are applied as
               erasures in the file's transaction (``hooks.committing``), never stored
    targets    each good row's pii columns get their policy (hash, mask, tokenize, drop)
    reasons    quarantine reasons never show a personal value: masked or ``hmac:...``
    raw        with ``raw_pii: protect``, the file columns that feed pii columns get the
               strictest of those policies in the records kept in ``raw.<source>`` and in
               quarantine; a line that could not be read is withheld

Tokens and index rows wait in temporary tables of the compute engine until the commit.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
from sqlglot import exp

from tidegate.config.models import ColumnSpec, OutputConfig, SourceConfig, TargetConfig
from tidegate.privacy.context import Privacy
from tidegate.privacy.keys import Keys, identifier_hash_sql, subject_hash_sql, token_sql
from tidegate.privacy.policies import policy_sql, redaction_sql
from tidegate.privacy.subjects import personal_file_columns
from tidegate.read import ReadResult
from tidegate.sql import col, column_defs, data_type, lit, table
from tidegate.transform.evaluate import BAD, Outcome, run, temp_table
from tidegate.transform.mapping import REASONS, ROW, mapped, typed
from tidegate.transform.rules import RAW_SUFFIX

SUBJECTS = "_tg_privacy_subjects"  # _row, target, subject, identifier
TOKENS = "_tg_privacy_tokens"  # token, value
REQUESTS = "_tg_privacy_requests"  # target, tbl: the good rows of erase targets
WITHHELD_LINE = "<withheld: raw_pii is protect>"
TEMPORARY = exp.Properties(expressions=[exp.TemporaryProperty()])


def prepare(
    con: duckdb.DuckDBPyConnection,
    privacy: Privacy,
    source: SourceConfig,
    read: ReadResult,
    outcome: Outcome,
    *,
    replay: bool = False,
) -> None:
    """Protect one evaluated file in place (see the module docstring)."""
    if not privacy.active:
        return
    _reset(con)
    keys = privacy.keys
    if not replay and keys is not None:
        _index(con, privacy, keys, source, read)
    _set_aside_requests(con, privacy, outcome)
    outcome.outputs = [
        (output, _apply_policies(con, privacy, output, good, index))
        for index, (output, good) in enumerate(outcome.outputs)
    ]
    _redact_reasons(con, privacy, outcome.bad_table or BAD, [o.target for o in source.outputs])
    if not replay and privacy.protect_raw:
        _protect_records(con, privacy, source, read)


def _create(con: duckdb.DuckDBPyConnection, name: str, columns: list[tuple[str, str]]) -> None:
    run(con, exp.Drop(tables=[table(name)], kind="TABLE", exists=True))
    schema = exp.Schema(
        this=table(name), expressions=column_defs([(c, data_type(k)) for c, k in columns])
    )
    run(con, exp.Create(this=schema, kind="TABLE", properties=TEMPORARY))


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    _create(
        con,
        SUBJECTS,
        [(ROW, "bigint"), ("target", "varchar"), ("subject", "varchar"), ("identifier", "varchar")],
    )
    _create(con, TOKENS, [("token", "varchar"), ("value", "varchar")])
    _create(con, REQUESTS, [("target", "varchar"), ("tbl", "varchar")])


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
    con: duckdb.DuckDBPyConnection,
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
    con: duckdb.DuckDBPyConnection,
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
    if key is not None:
        subject = subject_hash_sql(keys, root, _stored(target.columns[key], key, keys))
    selects = [_index_select(rows, output.target, subject, exp.cast(exp.null(), "varchar"))]
    root_columns = privacy.targets[root].columns
    for column, identifier in identifiers:
        stored = _stored(root_columns[identifier], column, keys)
        hashed = identifier_hash_sql(keys, root, identifier, stored)
        selects.append(_index_select(rows.copy(), output.target, subject.copy(), hashed))
    run(
        con,
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


def _set_aside_requests(con: duckdb.DuckDBPyConnection, privacy: Privacy, outcome: Outcome) -> None:
    kept = []
    for output, good in outcome.outputs:
        if output.target in privacy.graph.erase_targets:
            row = exp.values([(lit(output.target), lit(good))])
            run(con, exp.insert(row, table(REQUESTS)))
        else:
            kept.append((output, good))
    outcome.outputs = kept


def _apply_policies(
    con: duckdb.DuckDBPyConnection, privacy: Privacy, output: OutputConfig, good: str, index: int
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
    temp_table(con, name, exp.select(exp.Star(replace=replaced)).from_(table(good)))
    return name


def _collect_tokens(
    con: duckdb.DuckDBPyConnection, keys: Keys, value: exp.Expr, source: str
) -> None:
    """Remember (token, value) for the vault, for each distinct value of ``source``."""
    text = exp.cast(value, "varchar")
    pairs = (
        exp.select(exp.alias_(token_sql(keys, text), "token"), exp.alias_(text.copy(), "value"))
        .distinct()
        .from_(table(source))
        .where(exp.not_(text.copy().is_(exp.null())))
    )
    run(con, exp.insert(pairs, table(TOKENS)))


def _reasons_for(privacy: Privacy, target: TargetConfig, name: str) -> dict[str, ColumnSpec | None]:
    """Reason column labels whose values are personal, with the spec that says how to hide them."""
    protected = privacy.graph.protected_columns(name)
    labels: dict[str, ColumnSpec | None] = {c: target.columns.get(c) for c in protected}
    composite = [target.key, *[r.columns for r in target.references]]
    for columns in composite:
        if len(columns) > 1 and protected & set(columns):
            labels[", ".join(columns)] = None
    return labels


def _field(key: str) -> exp.Expr:
    return exp.func("struct_extract", exp.column("_tg_r"), lit(key))


def _redacted_reason(spec: ColumnSpec | None, keys: Keys | None) -> exp.Struct:
    """The reason struct with its value hidden the way the column's policy hides it."""
    value = redaction_sql(spec if spec is not None and spec.pii else None, _field("value"), keys)
    fields = {"rule": _field("rule"), "column": _field("column"), "value": value}
    fields["message"] = _field("message")
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(k), expression=v) for k, v in fields.items()
        ]
    )


def _redact_reasons(
    con: duckdb.DuckDBPyConnection, privacy: Privacy, bad: str, names: list[str]
) -> None:
    """Reasons of pii and identifying columns show a mask or ``hmac:...``, never the value."""
    present = run(con, exp.select(col("target")).distinct().from_(table(bad)))
    for name in sorted({str(r[0]) for r in present} & set(names)):
        labels = _reasons_for(privacy, privacy.targets[name], name)
        if not labels:
            continue
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
        run(con, update)


# --------------------------------------------------------------------------- raw


def _as_text(con: duckdb.DuckDBPyConnection, name: str, column: str) -> None:
    retype = exp.AlterColumn(
        this=exp.to_identifier(column, quoted=True), dtype=data_type("varchar")
    )
    run(con, exp.Alter(this=table(name), kind="TABLE", actions=[retype]))


def _protect_records(
    con: duckdb.DuckDBPyConnection, privacy: Privacy, source: SourceConfig, read: ReadResult
) -> None:
    """The records as kept in raw and quarantine: pii-feeding file columns protected."""
    feeds = personal_file_columns(source, privacy.targets)
    if not feeds:
        return
    names = {c.lower(): c for c in read.columns}
    kinds = {str(r[0]): str(r[1]) for r in run(con, exp.Describe(this=table(read.table)))}
    assignments = []
    for column, spec in feeds.items():
        actual = names.get(column.lower())
        if actual is None:
            continue
        value = exp.cast(col(actual), "varchar")
        if spec.pii == "tokenize":
            _collect_tokens(con, privacy.need_keys(), value, read.table)
        text_spec = spec.model_copy(update={"type": "varchar"})
        protected = policy_sql(text_spec, value.copy(), privacy.keys)
        if kinds.get(actual, "").upper() != "VARCHAR":
            _as_text(con, read.table, actual)  # a hash or token of a nested value is text
        assignments.append(exp.EQ(this=col(actual), expression=protected))
    if assignments:
        run(con, exp.Update(this=table(read.table), expressions=assignments))
    for index, bad in enumerate(read.bad):
        read.bad[index] = replace(bad, raw=WITHHELD_LINE)
