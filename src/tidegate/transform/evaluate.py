"""Evaluate a source's outputs over one file's records, set-wise in the compute engine.

A *record* (one row read from the file) is the unit of the outcome: if any row it yields
for any output breaks a rule, the whole record goes to quarantine with every reason, so a
parent never loads without its children nor a child without its parent. Counts follow:
``rows_read = loaded + quarantined + duplicate`` (the warehouse later splits loaded rows
into loaded and unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from tidegate.config.models import OutputConfig, SourceConfig, TargetConfig
from tidegate.sql import col, column_defs, data_type, lit, table
from tidegate.transform.mapping import FILE_CTE, REASONS, ROW, checked
from tidegate.transform.references import Lookup, check_references
from tidegate.transform.rules import reason_struct

BAD = "_tg_bad"
DUPLICATE = "_tg_duplicate"
RN = "_tg_rn"


@dataclass
class Outcome:
    """Where the results of one file are, in the compute engine, and how many."""

    outputs: list[tuple[OutputConfig, str]] = field(default_factory=list)  # (output, table)
    bad_table: str = BAD  # _row, target, _reasons
    rows_quarantined: int = 0
    rows_duplicate: int = 0


def run(con: duckdb.DuckDBPyConnection, expression: exp.Expr) -> list[tuple[object, ...]]:
    result = con.execute(expression.sql(dialect="duckdb"))
    return result.fetchall() if result.description else []


def scalar(con: duckdb.DuckDBPyConnection, query: exp.Expr) -> int:
    """The first value of a query that returns one number."""
    rows = run(con, query)
    value = rows[0][0] if rows else None
    return int(value) if isinstance(value, int | float | str) else 0


def temp_table(con: duckdb.DuckDBPyConnection, name: str, query: exp.Expr) -> None:
    create = exp.Create(
        this=table(name),
        kind="TABLE",
        expression=query,
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )
    run(con, create)


def set_file_values(con: duckdb.DuckDBPyConnection, values: exp.Select) -> None:
    temp_table(con, FILE_CTE, values)


def _bad_rows(index: int, output: OutputConfig) -> exp.Select:
    """Rows of one output that break a rule: (_row, target, reasons)."""
    return (
        exp.select(col(ROW), exp.alias_(lit(output.target), "target", quoted=True), col(REASONS))
        .from_(table(f"_tg_out_{index}"))
        .where(exp.GT(this=exp.func("len", col(REASONS)), expression=lit(0)))
    )


def _duplicate_reason(key: list[str], first_row: exp.Expr) -> exp.Expr:
    value = exp.func("concat_ws", lit(", "), *[exp.cast(col(k), "varchar") for k in key])
    message = exp.func(
        "concat", lit("duplicate key; first seen at row "), exp.cast(first_row, "varchar")
    )
    return exp.Array(expressions=[reason_struct("duplicate", ", ".join(key), value, message)])


def _ranked(index: int, key: list[str], descending: bool) -> exp.Select:
    """Rows not already bad, numbered within their key in file order."""
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k) for k in key],
        order=exp.Order(expressions=[exp.Ordered(this=col(ROW), desc=descending)]),
    )
    first = exp.Window(this=exp.Min(this=col(ROW)), partition_by=[col(k) for k in key])
    not_bad = exp.not_(col(ROW).isin(query=exp.select(col(ROW)).from_(table(BAD))))
    return (
        exp.select(
            exp.Star(),
            exp.alias_(window, RN, quoted=True),
            exp.alias_(first, "_tg_first", quoted=True),
        )
        .from_(table(f"_tg_out_{index}"))
        .where(not_bad)
        .where(exp.and_(*[exp.not_(col(k).is_(exp.null())) for k in key]))
    )


def _key_duplicates(
    con: duckdb.DuckDBPyConnection, index: int, output: OutputConfig, target: TargetConfig
) -> None:
    """Apply the target's duplicate-key policy to rows of this file."""
    if not target.key or target.duplicates == "keep":
        return
    ranked = _ranked(index, target.key, descending=target.duplicates == "keep_last")
    later = exp.GT(this=col(RN), expression=lit(1))
    if target.duplicates == "quarantine":
        rows = (
            exp.select(
                col(ROW),
                exp.alias_(lit(output.target), "target", quoted=True),
                exp.alias_(_duplicate_reason(target.key, col("_tg_first")), REASONS, quoted=True),
            )
            .from_(ranked.subquery("_tg_ranked"))
            .where(later)
        )
        run(con, exp.insert(rows, table(BAD)))
    else:
        rows = exp.select(col(ROW)).from_(ranked.subquery("_tg_ranked")).where(later)
        run(con, exp.insert(rows, table(DUPLICATE)))


def _good(index: int) -> exp.Select:
    dropped = exp.union(
        exp.select(col(ROW)).from_(table(BAD)),
        exp.select(col(ROW)).from_(table(DUPLICATE)),
    )
    return (
        exp.select(exp.Star())
        .from_(table(f"_tg_out_{index}"))
        .where(exp.not_(col(ROW).isin(query=dropped)))
    )


def _create_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    reason = exp.DataType.build(
        'STRUCT("rule" VARCHAR, "column" VARCHAR, "value" VARCHAR, "message" VARCHAR)[]',
        dialect="duckdb",
    )
    temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
    for name, columns in (
        (BAD, [(ROW, data_type("bigint")), ("target", data_type("varchar")), (REASONS, reason)]),
        (DUPLICATE, [(ROW, data_type("bigint"))]),
    ):
        run(con, exp.Drop(tables=[table(name)], kind="TABLE", exists=True))
        schema = exp.Schema(this=table(name), expressions=column_defs(columns))
        run(con, exp.Create(this=schema, kind="TABLE", properties=temporary))


def _count_rows(con: duckdb.DuckDBPyConnection, name: str, unless_in: str | None = None) -> int:
    query = exp.select(exp.Count(this=exp.Distinct(expressions=[col(ROW)]))).from_(table(name))
    if unless_in:
        query = query.where(
            exp.not_(col(ROW).isin(query=exp.select(col(ROW)).from_(table(unless_in))))
        )
    return scalar(con, query)


def evaluate(
    con: duckdb.DuckDBPyConnection,
    read_table: str,
    source: SourceConfig,
    targets: dict[str, TargetConfig],
    lookup: Lookup | None = None,
) -> Outcome:
    """Map and check every output; leave good rows, bad rows and duplicates in temp tables."""
    _create_work_tables(con)
    outputs = source.outputs
    for index, output in enumerate(outputs):
        query = checked(read_table, source.derive, output, targets[output.target])
        temp_table(con, f"_tg_out_{index}", query)
        run(con, exp.insert(_bad_rows(index, output), table(BAD)))
    for index, output in enumerate(outputs):
        target = targets[output.target]
        if target.references and lookup is not None:
            check_references(con, f"_tg_out_{index}", output.target, target, BAD, lookup)
    for index, output in enumerate(outputs):
        _key_duplicates(con, index, output, targets[output.target])
    outcome = Outcome()
    for index, output in enumerate(outputs):
        temp_table(con, f"_tg_good_{index}", _good(index))
        outcome.outputs.append((output, f"_tg_good_{index}"))
    outcome.rows_quarantined = _count_rows(con, BAD)
    outcome.rows_duplicate = _count_rows(con, DUPLICATE, unless_in=BAD)
    return outcome
