"""The row hash: one canonical fingerprint of a row's tracked values, for merge and scd2.

Two rows get the same hash exactly when their tracked columns hold the same values:

- columns are taken in name order, so the order of a file's or a target's columns never
  matters;
- each value is written in one canonical text per type family (trailing decimal zeros
  dropped, so ``10``, ``10.0`` and ``10.00`` agree; ``timestamptz`` in UTC whatever the
  session's time zone; JSON minified);
- a column is written as ``"name":"value",`` with both parts JSON-quoted, so no value can
  imitate a separator, and an empty string is ``"name":"",``;
- a NULL column is left out. NULL and an empty string therefore differ, and adding a new
  column that is NULL in every row changes no hash.

The expression is built for the compute dialect (DuckDB) and evaluated there; warehouses
only compare the resulting text.

>>> from tidegate.config.models import ColumnSpec, TargetConfig
>>> target = TargetConfig(columns={"id": ColumnSpec(type="integer")}, key=["id"], load="merge")
>>> row_hash(target).sql("duckdb")[:40]
'MD5(CASE WHEN "id" IS NULL THEN \\'\\' ELSE '
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlglot
from sqlglot import exp

from tidegate.config.models import TargetConfig
from tidegate.errors import ConfigError
from tidegate.sql import COMPUTE_DIALECT, col, lit

Canonical = Callable[[exp.Expr], exp.Expr]


def _template(sql: str, **values: exp.Expr) -> exp.Expr:
    return exp.replace_placeholders(sqlglot.parse_one(sql, read=COMPUTE_DIALECT), **values)


def _text(value: exp.Expr) -> exp.Expr:
    return exp.cast(value, "varchar")


def _number(value: exp.Expr) -> exp.Expr:
    """``10.50`` -> ``10.5``, ``10.0`` -> ``10``; integers and exponent forms are kept."""
    return _template(
        "CASE WHEN :t LIKE '%.%' AND NOT :t LIKE '%e%' THEN rtrim(rtrim(:t, '0'), '.') ELSE :t END",
        t=_text(value),
    )


def _instant(value: exp.Expr) -> exp.Expr:
    return _text(_template("timezone('UTC', :v)", v=value))


def _json(value: exp.Expr) -> exp.Expr:
    return _text(_template("json(:v)", v=value))


CANONICAL: dict[str, Canonical] = {
    "decimal": _number,
    "numeric": _number,
    "double": _number,
    "float": _number,
    "real": _number,
    "timestamptz": _instant,
    "json": _json,
}


def canonical_text(column: str, column_type: str) -> exp.Expr:
    """The column's value as text in the one representation its type family uses."""
    base = column_type.split("(")[0].strip().lower()
    return CANONICAL.get(base, _text)(col(column))


def tracked_columns(target: TargetConfig) -> list[str]:
    """Columns whose change makes a new version (scd2) or an update (merge), in name order."""
    track = target.history.track
    if target.load != "scd2" or track == "all":
        return sorted(target.columns)
    unknown = [name for name in track if name not in target.columns]
    if unknown:
        raise ConfigError(
            "history.track",
            f"columns {unknown} are not columns of the target {sorted(target.columns)}",
        )
    return sorted(set(track))


def _piece(column: str, column_type: str) -> exp.Expr:
    # JSON of the text (typed so, which Spark's form needs: ``transform/spark.py``).
    text = exp.cast(canonical_text(column, column_type), "varchar")
    quoted = exp.cast(exp.func("to_json", text), "varchar")
    piece = exp.func("concat", lit(json.dumps(column) + ":"), quoted, lit(","))
    return exp.Case(ifs=[exp.If(this=col(column).is_(exp.null()), true=lit(""))], default=piece)


def row_hash(target: TargetConfig) -> exp.Expr:
    """A DuckDB expression over the target's typed columns: the md5 of the canonical text."""
    pieces = [_piece(name, target.columns[name].type) for name in tracked_columns(target)]
    return exp.func("md5", exp.func("concat", *pieces))


def hash_column(target: TargetConfig) -> str:
    return target.history.columns.row_hash


def valid_from_column(target: TargetConfig) -> str:
    return target.history.columns.valid_from
