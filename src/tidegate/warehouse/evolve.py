"""How a target's table differs from its YAML, and the changes a load may make by itself.

    add       a column the YAML has and the table lacks              safe
    widen     a type that holds every value of the table's type      safe
              (integer -> bigint -> decimal -> varchar, decimal(10,2) -> decimal(12,2),
              varchar(n) -> a longer one, date -> timestamp, real -> double)
    extra     a column the table has and the YAML no longer lists    kept (NULL in new rows)
    narrow    any other type change: some values may not convert     tidegate migrate
    required  a new required column on a table that has rows         no value for earlier rows
    key       a merge or scd2 target's key differs from the one      tidegate migrate
              the table was made with
    mode      the load mode changes to or from merge or scd2         a new target
    shape     any other change of key or mode (an append target's   safe
              key only settles duplicates within a file)

Safe changes are applied in the transaction of the file that first needs them and recorded
in ``tidegate.schema_changes`` (one row per change, with the file's id), beside the shape
(key and load mode) each table was made with, which is how a key change is recognised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from tidegate.clock import utcnow
from tidegate.config.models import TargetConfig
from tidegate.errors import ConfigError
from tidegate.sql import col, data_type, insert_values, lit, table
from tidegate.warehouse.base import Warehouse

CHANGES = "schema_changes"
CHANGE_COLUMNS = [
    ("target", "varchar"),
    ("change", "varchar"),  # create | add | widen | migrate | shape
    ("column_name", "varchar"),
    ("from_type", "varchar"),
    ("to_type", "varchar"),
    ("file_id", "varchar"),
    ("run_id", "varchar"),
    ("applied_at", "timestamp"),
]
SAFE = frozenset({"add", "widen", "extra", "shape"})
HISTORY_MODES = frozenset({"merge", "scd2"})

Columns = Sequence[tuple[str, exp.DataType]]

# Digits of the largest value of each integer type, and the exact digits of each float.
INTEGER_DIGITS = {
    exp.DType.TINYINT: 3,
    exp.DType.SMALLINT: 5,
    exp.DType.INT: 10,
    exp.DType.BIGINT: 19,
}
FLOAT_DIGITS = {exp.DType.FLOAT: 7, exp.DType.DOUBLE: 15}
TEXT = frozenset(
    {exp.DType.VARCHAR, exp.DType.TEXT, exp.DType.NVARCHAR, exp.DType.CHAR, exp.DType.NCHAR}
)
TIMESTAMPS = frozenset(
    {exp.DType.TIMESTAMP, exp.DType.TIMESTAMPNTZ, exp.DType.DATETIME, exp.DType.DATETIME2}
)


@dataclass(frozen=True)
class Difference:
    """One way a target's table differs from its YAML."""

    target: str
    kind: str  # add | widen | extra | shape | narrow | required | key | mode
    column: str | None = None
    table_type: str | None = None  # as the warehouse declares it
    yaml_type: str | None = None  # as the YAML says
    detail: str = ""

    @property
    def safe(self) -> bool:
        return self.kind in SAFE

    def describe(self) -> str:
        """One line for ``tidegate check``."""
        if self.kind == "add":
            return f"column {self.column!r} to add ({self.yaml_type})"
        if self.kind == "extra":
            return f"column {self.column!r} ({self.table_type}) is no longer in the YAML: kept, NULL in new rows"
        if self.kind in ("widen", "narrow"):
            return f"column {self.column!r}: type to {self.kind}, {self.table_type} in the table -> {self.yaml_type}"
        return self.detail


@dataclass(frozen=True)
class Shape:
    """What a table was made for besides its columns: the key and the load mode."""

    key: tuple[str, ...]
    load: str

    @classmethod
    def of(cls, target: TargetConfig) -> Shape:
        return cls(tuple(target.key), target.load)

    def text(self) -> str:
        return json.dumps({"key": list(self.key), "load": self.load})

    @classmethod
    def parse(cls, text: str) -> Shape:
        data = json.loads(text)
        return cls(tuple(data["key"]), str(data["load"]))


# --------------------------------------------------------------------------- types


def widens(have: exp.DataType, want: exp.DataType) -> bool:
    """Whether every value of type ``have`` converts to ``want`` unchanged.

    >>> widens(exp.DataType.build("int"), exp.DataType.build("decimal(12,2)"))
    True
    >>> widens(exp.DataType.build("decimal(12,2)"), exp.DataType.build("decimal(10,2)"))
    False
    """
    source, target = have.this, want.this
    if target in TEXT:
        return _text_holds(have, want)
    if source in INTEGER_DIGITS:
        return _integer_fits(INTEGER_DIGITS[source], want)
    if source == exp.DType.DECIMAL and target == exp.DType.DECIMAL:
        return _decimal_holds(have, want)
    if source in FLOAT_DIGITS and target in FLOAT_DIGITS:
        return FLOAT_DIGITS[target] >= FLOAT_DIGITS[source]
    return source == exp.DType.DATE and target in TIMESTAMPS


def _size(kind: exp.DataType, index: int) -> int | None:
    """The n-th parameter of a type (a length, a precision or a scale), if it has one."""
    params = kind.expressions
    if len(params) <= index:
        return None
    value = params[index].this
    text = value.name if isinstance(value, exp.Expression) else str(value)
    return int(text) if text.isdigit() else None


def _text_holds(have: exp.DataType, want: exp.DataType) -> bool:
    """Any value has a text form; a bounded text only holds a shorter bounded text."""
    limit = _size(want, 0)
    if limit is None:
        return True
    return have.this in TEXT and (_size(have, 0) or limit + 1) <= limit


def _integer_fits(digits: int, want: exp.DataType) -> bool:
    if want.this in INTEGER_DIGITS:
        return INTEGER_DIGITS[want.this] >= digits
    if want.this in FLOAT_DIGITS:
        return FLOAT_DIGITS[want.this] >= digits
    if want.this == exp.DType.DECIMAL:
        precision, scale = _size(want, 0), _size(want, 1) or 0
        return precision is None or precision - scale >= digits
    return False


def _decimal_holds(have: exp.DataType, want: exp.DataType) -> bool:
    precision, scale = _size(want, 0), _size(want, 1) or 0
    if precision is None:  # unbounded (PostgreSQL NUMERIC)
        return True
    old_precision, old_scale = _size(have, 0), _size(have, 1) or 0
    if old_precision is None:
        return False
    return scale >= old_scale and precision - scale >= old_precision - old_scale


# --------------------------------------------------------------------------- differences


def differences(
    wh: Warehouse,
    name: str,
    target: TargetConfig,
    columns: Columns,
    shape: Shape | None = None,
) -> list[Difference]:
    """How the table ``core.<name>`` differs from the target's columns (every column of its
    load mode) and, when the table's recorded ``shape`` is given, from its key and mode."""
    existing = wh.column_types(name, wh.schemas.core)
    if existing is None:
        return []
    by_name = {c.lower(): (c, kind) for c, kind in existing.items()}
    found: list[Difference] = []
    rows: int | None = None
    for column, kind in columns:
        spec = target.columns.get(column)
        yaml_type = spec.type if spec is not None else kind.sql(dialect="duckdb").lower()
        present = by_name.get(column.lower())
        if present is None:
            if spec is not None and spec.required:
                rows = wh.count(name, wh.schemas.core) if rows is None else rows
                if rows:
                    found.append(_new_required(name, column, yaml_type, rows))
                    continue
            found.append(Difference(name, "add", column, None, yaml_type))
            continue
        want, have = wh.declared_type(kind), present[1]
        if not wh.same_type(have, want):
            change = "widen" if widens(have, want) else "narrow"
            found.append(Difference(name, change, column, wh.type_text(have), yaml_type))
    wanted = {c.lower() for c, _ in columns}
    for column, kind in existing.items():
        if column.lower() not in wanted:
            found.append(Difference(name, "extra", column, wh.type_text(kind), None))
    if shape is not None:
        found += _shape_change(name, shape, Shape.of(target))
    return found


def _new_required(name: str, column: str, yaml_type: str, rows: int) -> Difference:
    detail = (
        f"column {column!r} is new and required, but the table already has {rows} rows"
        " without a value for it"
    )
    return Difference(name, "required", column, None, yaml_type, detail)


def _shape_change(name: str, made: Shape, now: Shape) -> list[Difference]:
    """A key matters to a table only where it identifies rows (merge, scd2)."""
    if made == now:
        return []
    modes = {made.load, now.load}
    if made.load != now.load and modes & HISTORY_MODES:
        detail = f"load {now.load} differs from load {made.load}, which the table was made for"
        return [Difference(name, "mode", detail=detail)]
    if made.key != now.key and now.load in HISTORY_MODES:
        detail = (
            f"key {list(now.key)} differs from key {list(made.key)}, which the table was made with"
        )
        return [Difference(name, "key", detail=detail)]
    return [Difference(name, "shape", detail=f"load {now.load}, key {list(now.key)}")]


# --------------------------------------------------------------------------- applying


def apply(
    wh: Warehouse, name: str, target: TargetConfig, columns: Columns, file_id: str | None
) -> list[Difference]:
    """Make the safe changes in the caller's transaction and record them; an unsafe one is a
    ConfigError (``tidegate run`` finds those before the first file)."""
    found = [d for d in differences(wh, name, target, columns) if d.kind != "extra"]
    unsafe = [d for d in found if not d.safe]
    if unsafe:
        raise ConfigError(f"targets/{name}.yml", unsafe_message(unsafe[0]))
    if not found:
        return []
    kinds = dict(columns)
    if any(d.kind == "add" for d in found):
        wh.ensure_table(name, wh.schemas.core, columns)  # adds them, safe between runs
    widened = [(d.column, kinds[d.column]) for d in found if d.kind == "widen" and d.column]
    if widened:
        wh.alter_types(name, wh.schemas.core, widened)
    record(wh, [_change_row(d, file_id, None) for d in found])
    return found


def unsafe_message(difference: Difference) -> str:
    """What is wrong and what to do, for a change a load will not make."""
    fix = f"run `tidegate migrate {difference.target}`"
    if difference.kind == "narrow":
        return (
            f"column {difference.column!r} is {difference.table_type} in the warehouse table"
            f" and {difference.yaml_type} here, a change that may not keep every value; {fix}"
            " to rebuild the table with the new type (every row and version kept, values that"
            " do not convert listed), or put the type back"
        )
    if difference.kind == "required":
        return (
            f"{difference.detail}; declare it required: false (earlier rows get NULL), or add"
            " the column and fill it in the warehouse, then make it required"
        )
    if difference.kind == "mode":
        return (
            f"{difference.detail}; history cannot be made from the rows already loaded: load"
            " into a new target, or drop the table and load the archived files again"
        )
    return (
        f"{difference.detail}; {fix} to check that the new key identifies every row and"
        " rebuild the table under it, or put the key back"
    )


# --------------------------------------------------------------------------- the record


def ensure_log(wh: Warehouse) -> None:
    wh.ensure_schema(wh.schemas.meta)
    columns = [(name, data_type(kind)) for name, kind in CHANGE_COLUMNS]
    wh.ensure_table(CHANGES, wh.schemas.meta, columns)


def _change_row(difference: Difference, file_id: str | None, run_id: str | None) -> list[Any]:
    return [
        difference.target,
        difference.kind,
        difference.column,
        difference.table_type,
        difference.yaml_type,
        file_id,
        run_id,
        utcnow(),
    ]


def record(wh: Warehouse, rows: list[list[Any]]) -> None:
    if rows:
        ensure_log(wh)
        names = [name for name, _ in CHANGE_COLUMNS]
        wh.execute(insert_values(table(CHANGES, wh.schemas.meta), names, rows))


def record_created(
    wh: Warehouse, name: str, target: TargetConfig, file_id: str | None, run_id: str | None
) -> None:
    """A new table: its creation and the shape it was made for."""
    now = utcnow()
    record(
        wh,
        [
            [name, "create", None, None, None, file_id, run_id, now],
            [name, "shape", None, None, Shape.of(target).text(), file_id, run_id, now],
        ],
    )


def record_shape(
    wh: Warehouse, name: str, target: TargetConfig, before: Shape | None, run_id: str | None
) -> None:
    old = before.text() if before is not None else None
    record(wh, [[name, "shape", None, old, Shape.of(target).text(), None, run_id, utcnow()]])


def recorded_shape(wh: Warehouse, name: str) -> Shape | None:
    """The key and load mode the table was last made or migrated for; None when unknown
    (a table made before tidegate kept this record)."""
    if wh.columns_of(CHANGES, wh.schemas.meta) is None:
        return None
    query = (
        exp.select(col("to_type"))
        .from_(table(CHANGES, wh.schemas.meta))
        .where(col("target").eq(lit(name)))
        .where(col("change").eq(lit("shape")))
        .order_by(exp.Ordered(this=col("applied_at"), desc=True))
        .limit(1)
    )
    text = wh.scalar(query)
    return Shape.parse(str(text)) if text is not None else None


def list_changes(wh: Warehouse, name: str | None = None) -> list[dict[str, Any]]:
    """The recorded changes, oldest first (of one target, or of all)."""
    if wh.columns_of(CHANGES, wh.schemas.meta) is None:
        return []
    names = [n for n, _ in CHANGE_COLUMNS]
    query = exp.select(*[col(n) for n in names]).from_(table(CHANGES, wh.schemas.meta))
    if name is not None:
        query = query.where(col("target").eq(lit(name)))
    rows = wh.execute(query.order_by(col("applied_at")))
    return [dict(zip(names, row, strict=True)) for row in rows]
