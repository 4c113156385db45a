"""Small sqlglot builders shared by every room. Identifiers are always quoted.

>>> col("Phone", "t").sql("duckdb")
'"t"."Phone"'
>>> table("files", "tidegate").sql("postgres")
'"tidegate"."files"'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

COMPUTE_DIALECT = "duckdb"


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def col(name: str, table_name: str | None = None) -> exp.Column:
    return exp.column(name, table_name, quoted=True)


def table(name: str, schema: str | None = None) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


def lit(value: Any) -> exp.Expr:
    """A literal of any Python value (None, str, int, float, bool, date, datetime)."""
    return exp.convert(value)


# A mapping that only names a column, as ``tidegate draft`` writes them: ``"Order ID"``.
QUOTED_NAME = re.compile(r'"((?:[^"]|"")+)"')


def parse(sql: str, dialect: str = COMPUTE_DIALECT) -> exp.Expr:
    """Parse one user expression (mapping, check) in the compute dialect.

    A quoted column name is built without the parser (a drafted file of 10,000 columns
    has 10,000 of them; in DuckDB a double-quoted word is always an identifier).

    >>> parse('"Order ID"') == sqlglot.parse_one('"Order ID"', read="duckdb")
    True
    """
    named = QUOTED_NAME.fullmatch(sql.strip()) if dialect == COMPUTE_DIALECT else None
    if named:
        return exp.column(named.group(1).replace('""', '"'), quoted=True)
    return sqlglot.parse_one(sql, read=dialect)


def data_type(name: str) -> exp.DataType:
    """A target column type (``varchar``, ``decimal(10,2)``, ``json``...) as a sqlglot type,
    a fresh node each time (parsed once per name: a wide file asks thousands of times)."""
    return _parsed_type(name).copy()


@functools.lru_cache(maxsize=512)
def _parsed_type(name: str) -> exp.DataType:
    aliases = {"string": "varchar", "text": "varchar", "bool": "boolean", "int": "integer"}
    return exp.DataType.build(aliases.get(name, name), dialect=COMPUTE_DIALECT)


def column_defs(columns: Iterable[tuple[str, exp.DataType]]) -> list[exp.ColumnDef]:
    return [exp.ColumnDef(this=ident(name), kind=kind) for name, kind in columns]


def create_table(
    name: exp.Table, columns: Sequence[tuple[str, exp.DataType]], primary_key: Sequence[str] = ()
) -> exp.Create:
    parts: list[exp.Expr] = list(column_defs(columns))
    if primary_key:
        parts.append(exp.PrimaryKey(expressions=[ident(c) for c in primary_key]))
    return exp.Create(this=exp.Schema(this=name, expressions=parts), kind="TABLE", exists=True)


def insert_values(
    into: exp.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> exp.Insert:
    values = exp.values([tuple(lit(v) for v in row) for row in rows])
    return exp.insert(values, into, columns=[ident(c) for c in columns])


def and_all(conditions: Sequence[exp.Expr]) -> exp.Expr:
    return exp.and_(*conditions) if conditions else exp.true()


def equals(values: dict[str, Any], table_name: str | None = None) -> exp.Expr:
    """``"a" = 1 AND "b" = 'x'`` (``IS NULL`` for None)."""
    conditions: list[exp.Expr] = []
    for name, value in values.items():
        column = col(name, table_name)
        conditions.append(column.is_(exp.null()) if value is None else column.eq(lit(value)))
    return and_all(conditions)


def update(target: exp.Table, values: dict[str, Any], where: exp.Expr) -> exp.Update:
    """``UPDATE target SET "k" = v, ... WHERE ...`` with quoted column names."""
    assignments = [exp.EQ(this=col(name), expression=lit(value)) for name, value in values.items()]
    return exp.Update(this=target, expressions=assignments, where=exp.Where(this=where))
