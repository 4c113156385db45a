"""From a file's records to typed target rows: the SELECT of one output.

mapped   one row per record (or per element of ``unnest``): user expressions, as sent
typed    each value cast to its column's type; the mapped value kept beside it
checked  plus ``_reasons``: every rule the row breaks, as a list of structs

A run stores ``typed`` rows and lists the reasons of the rows that break a rule only
(``evaluate._bad_rows``); ``checked`` is the same in one query, for binding.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlglot import exp

from tidegate.config.models import ColumnSpec, OutputConfig, SourceConfig, TargetConfig
from tidegate.sql import col, ident, lit, parse, table
from tidegate.transform.rules import RAW_SUFFIX, Failure, failures, reason
from tidegate.transform.types import cast, cast_of

ROW = "_row"
ITEM = "_item"
REASONS = "_reasons"
FILE = "_file"
FILE_CTE = "_tg_file"
UNNESTED = "_tg_unnested"
TEXT_SUFFIX = "__text"  # a value's text as its cast reads it (trimmed), computed once
BOUND_NAMES = {FILE, ROW, ITEM}


def file_values(
    name: str, path: str, modified: datetime, extra: Mapping[str, str | None]
) -> exp.Select:
    """``SELECT {name, path, modified, <partitions and name groups>} AS _file``.

    A missing value (a name group the file name did not fill) is a text NULL, so its type
    is the same for every file of a source.
    """
    fields: dict[str, Any] = {**extra, "name": name, "path": path, "modified": modified}
    struct = exp.Struct(
        expressions=[
            exp.PropertyEQ(
                this=ident(key),
                expression=exp.cast(exp.null(), "varchar") if value is None else lit(value),
            )
            for key, value in fields.items()
        ]
    )
    return exp.select(exp.alias_(struct, FILE, quoted=True))


def referenced_columns(expression: exp.Expr, bound: set[str]) -> set[str]:
    """Names of file columns an expression reads (lambda parameters and aliases excluded)."""
    lambdas = {param.name for node in expression.find_all(exp.Lambda) for param in node.expressions}
    names = set()
    for column in expression.find_all(exp.Column):
        head = column.parts[0].name
        if head not in bound and head not in lambdas:
            names.add(head)
    return names


def needed_columns(source: SourceConfig) -> set[str]:
    """File columns the source's derived values and outputs read."""
    derive = tuple(source.derive.items())
    outputs = tuple(
        (output.unnest_as, (*output.columns.values(), output.unnest)) for output in source.outputs
    )
    return set(_needed(derive, outputs))


@functools.lru_cache(maxsize=256)
def _needed(
    derive: tuple[tuple[str, str], ...], outputs: tuple[tuple[str, tuple[str | None, ...]], ...]
) -> frozenset[str]:
    """``needed_columns`` of one source's expressions, parsed once per process."""
    found: set[str] = set()
    bound = BOUND_NAMES | {name for name, _ in derive}
    for _, derived in derive:
        found |= referenced_columns(parse(derived), bound)
    for unnest_as, expressions in outputs:
        for expression in expressions:
            if expression:
                found |= referenced_columns(parse(expression), bound | {unnest_as})
    return frozenset(found)


def missing_columns(source: SourceConfig, present: Iterable[str]) -> list[str]:
    have = {name.lower() for name in present}
    return sorted(name for name in needed_columns(source) if name.lower() not in have)


def _source(read_table: str, derive: Mapping[str, str], output: OutputConfig) -> exp.Select:
    """The records with the source's derived values (each may use the ones before it), or
    one row per element of the ``unnest`` list with its 1-based index."""
    derived = [exp.alias_(parse(sql), name, quoted=True) for name, sql in derive.items()]
    base = (
        exp.select(exp.Star(), *derived)
        .from_(table(read_table))
        .join(table(FILE_CTE), join_type="cross")
    )
    if not output.unnest:
        return base
    items = parse(output.unnest)
    index = exp.Explode(this=exp.func("generate_series", lit(1), exp.func("len", items.copy())))
    return exp.select(
        exp.Star(),
        exp.alias_(exp.Explode(this=items), output.unnest_as, quoted=True),
        exp.alias_(index, ITEM, quoted=True),
    ).from_(base.subquery("_tg_derived"))


def source_rows(read_table: str, derive: Mapping[str, str], output: OutputConfig) -> exp.Select:
    """What an output's expressions read: the records with derived values (and ``unnest``)."""
    return _source(read_table, derive, output)


def mapped(
    read_table: str, derive: Mapping[str, str], output: OutputConfig, target: TargetConfig
) -> exp.Select:
    keys = [col(ROW)] + ([col(ITEM)] if output.unnest else [])
    values = [
        exp.alias_(parse(sql) if sql else exp.null(), name + RAW_SUFFIX, quoted=True, copy=False)
        for name, sql in ((n, output.columns.get(n)) for n in target.columns)
    ]
    source = _source(read_table, derive, output)
    # Every part is built here for this query alone: no copies (a wide file has thousands).
    return exp.select(*keys, *values, copy=False).from_(source.subquery(UNNESTED), copy=False)


def typed(source: exp.Select, output: OutputConfig, target: TargetConfig) -> exp.Select:
    keys = [col(ROW)] + ([col(ITEM)] if output.unnest else [])
    values = [
        exp.alias_(_typed_value(name, spec), name, quoted=True, copy=False)
        for name, spec in target.columns.items()
    ]
    raws = [col(name + RAW_SUFFIX) for name in target.columns]
    select = exp.select(*keys, *values, *raws, copy=False)
    return select.from_(_texts(source, target).subquery("_tg_mapped", copy=False), copy=False)


def _typed_value(name: str, spec: ColumnSpec) -> exp.Expr:
    kind = cast_of(spec)
    if kind.shared:
        return kind.build(col(name + TEXT_SUFFIX), spec)
    return cast(col(name + RAW_SUFFIX), spec)


def _texts(source: exp.Select, target: TargetConfig) -> exp.Select:
    """The mapped rows, with the text each cast that reads it twice reads (``Cast.shared``)
    computed once: a date's trimmed text, a boolean's lowered word."""
    texts = [
        exp.alias_(cast_of(spec).text(col(name + RAW_SUFFIX)), name + TEXT_SUFFIX, quoted=True)
        for name, spec in target.columns.items()
        if cast_of(spec).shared
    ]
    if not texts:
        return source
    select = exp.select(exp.Star(), *texts, copy=False)
    return select.from_(source.subquery("_tg_raw", copy=False), copy=False)


def reasons(rules: Sequence[Failure]) -> exp.Expr:
    """``_reasons``: the list of every rule of ``rules`` a typed row breaks (empty for a
    good row)."""
    found = exp.Array(expressions=[reason(f) for f in rules])
    keep = exp.Lambda(
        this=exp.not_(exp.column("x").is_(exp.null())), expressions=[exp.to_identifier("x")]
    )
    return exp.alias_(
        exp.func("list_filter", found, keep, copy=False), REASONS, quoted=True, copy=False
    )


def output_rows(
    read_table: str, derive: Mapping[str, str], output: OutputConfig, target: TargetConfig
) -> exp.Select:
    """One output's typed rows, each mapped value beside its typed value."""
    return typed(mapped(read_table, derive, output, target), output, target)


def checked(
    read_table: str, derive: Mapping[str, str], output: OutputConfig, target: TargetConfig
) -> exp.Select:
    """The whole pipeline of one output as one query."""
    rows = output_rows(read_table, derive, output, target)
    select = exp.select(exp.Star(), reasons(failures(target.columns)), copy=False)
    return select.from_(rows.subquery("_tg_typed", copy=False), copy=False)
