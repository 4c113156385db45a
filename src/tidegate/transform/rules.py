"""Column rules as SQL conditions that are true when a row *fails* them.

Each failure becomes a struct ``{rule, column, value, message}`` in the row's reasons, so
one pass over the data finds every reason of every bad row, set-wise.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from tidegate.config.models import ColumnSpec
from tidegate.sql import col, lit, parse
from tidegate.transform.types import as_text, cast_of, expected

RAW_SUFFIX = "__raw"
# Every rule a quarantine reason can name: the column checks below, then the reasons given by
# references (transform/references.py), key checks (evaluate.py) and the reader (compute.py).
RULES = (
    *("type", "required", "pattern", "allowed", "min", "max", "length", "min_length", "check"),
    *("reference", "duplicate", "read"),
)


@dataclass(frozen=True)
class Failure:
    """A rule that a column's value broke, as a condition over the typed row."""

    rule: str
    column: str
    condition: exp.Expr
    message: str


def raw(column: str) -> exp.Column:
    return col(column + RAW_SUFFIX)


def _present(column: str) -> exp.Expr:
    return exp.not_(col(column).is_(exp.null()))


def type_failure(column: str, spec: ColumnSpec) -> Failure:
    present = exp.not_(raw(column).is_(exp.null()), copy=False)
    condition = exp.and_(present, col(column).is_(exp.null()), copy=False)
    return Failure("type", column, condition, f"expected {expected(spec)}")


def required_failure(column: str, spec: ColumnSpec) -> Failure:
    blank = exp.EQ(this=exp.Trim(this=as_text(raw(column))), expression=lit(""))
    condition = exp.or_(raw(column).is_(exp.null()), blank)
    return Failure("required", column, condition, "a value is required")


def _typed_literal(value: object, spec: ColumnSpec) -> exp.Expr:
    return exp.cast(lit(value), spec.type) if isinstance(value, str) else lit(value)


def _value_conditions(spec: ColumnSpec, value: exp.Column) -> list[tuple[str, exp.Expr, str]]:
    """(rule, condition that fails, message) for each rule the column declares."""
    text = as_text(value)
    found: list[tuple[str, exp.Expr, str]] = []
    fails: exp.Expr
    if spec.pattern:
        fails = exp.not_(exp.RegexpLike(this=text, expression=lit(spec.pattern)))
        found.append(("pattern", fails, f"does not match the pattern {spec.pattern}"))
    if spec.allowed is not None:
        fails = exp.not_(value.isin(*[_typed_literal(v, spec) for v in spec.allowed]))
        found.append(("allowed", fails, f"is not one of {spec.allowed}"))
    if spec.min is not None:
        fails = exp.LT(this=value, expression=_typed_literal(spec.min, spec))
        found.append(("min", fails, f"is below the minimum {spec.min}"))
    if spec.max is not None:
        fails = exp.GT(this=value, expression=_typed_literal(spec.max, spec))
        found.append(("max", fails, f"is above the maximum {spec.max}"))
    if spec.length is not None:
        fails = exp.GT(this=exp.Length(this=text.copy()), expression=lit(spec.length))
        found.append(("length", fails, f"is longer than {spec.length} characters"))
    if spec.min_length is not None:
        fails = exp.LT(this=exp.Length(this=text.copy()), expression=lit(spec.min_length))
        found.append(("min_length", fails, f"is shorter than {spec.min_length} characters"))
    if spec.check:
        fails = exp.not_(exp.Coalesce(this=parse(spec.check), expressions=[exp.true()]))
        found.append(("check", fails, f"fails the check {spec.check}"))
    return found


def value_failures(column: str, spec: ColumnSpec) -> list[Failure]:
    """Rules on a present, well-typed value."""
    return [
        Failure(rule, column, exp.and_(_present(column), condition, copy=False), message)
        for rule, condition, message in _value_conditions(spec, col(column))
    ]


def failures(columns: dict[str, ColumnSpec]) -> list[Failure]:
    out: list[Failure] = []
    for name, spec in columns.items():
        if not cast_of(spec).total:  # a text column's cast cannot fail
            out.append(type_failure(name, spec))
        if spec.required:
            out.append(required_failure(name, spec))
        out.extend(value_failures(name, spec))
    return out


def reason_struct(rule: str, column: str, value: exp.Expr, message: exp.Expr) -> exp.Struct:
    """One quarantine reason: ``{rule, column, value, message}``."""
    fields = {"rule": lit(rule), "column": lit(column), "value": value, "message": message}
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(name), expression=field)
            for name, field in fields.items()
        ]
    )


def reason(failure: Failure) -> exp.Expr:
    """``CASE WHEN <fails> THEN {rule, column, value, message} END``."""
    value = as_text(raw(failure.column))
    struct = reason_struct(failure.rule, failure.column, value, lit(failure.message))
    return exp.Case(ifs=[exp.If(this=failure.condition, true=struct)])
