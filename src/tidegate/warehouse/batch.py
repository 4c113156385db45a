"""What a loader receives and returns, and the SQL pieces every history loader shares.

A loader gets one file's typed rows as Arrow batches: the target's business columns, the
lineage columns ``_file_id``, ``_row``, ``_loaded_at``, and for merge and scd2 the row hash
(and for scd2 the row's effective time). It answers with ``Applied``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from sqlglot import exp

from tidegate.config.models import HistoryColumns, TargetConfig
from tidegate.errors import ConfigError, WarehouseError
from tidegate.sql import and_all, col, data_type, lit
from tidegate.warehouse.base import Batches, Rows, Warehouse

FILE_ID = "_file_id"
ROW = "_row"
LOADED_AT = "_loaded_at"
LINEAGE = [(FILE_ID, "varchar"), (ROW, "bigint"), (LOADED_AT, "timestamp")]
RANK = "_tg_rank"

Columns = list[tuple[str, exp.DataType]]


@dataclass(frozen=True)
class LoadContext:
    """What a loader knows about the file whose rows it applies."""

    file_id: str
    loaded_at: datetime
    effective_at: datetime  # the file's effective time (history.effective), default: run time


@dataclass(frozen=True)
class Applied:
    """Rows written, rows already present, and rows of the batch overridden by a later one.

    ``loaded + unchanged + superseded`` is the number of rows the loader received.
    ``superseded`` counts rows of one key (and, for scd2, one effective time) that a later
    row of the same file replaced; it is 0 whenever duplicates were settled before loading.
    """

    loaded: int
    unchanged: int = 0
    superseded: int = 0


def business_columns(target: TargetConfig) -> Columns:
    return [(name, data_type(spec.type)) for name, spec in target.columns.items()]


def lineage_columns() -> Columns:
    return [(name, data_type(kind)) for name, kind in LINEAGE]


def history_names(target: TargetConfig) -> HistoryColumns:
    """The configured history column names, checked against the business columns."""
    names = target.history.columns
    taken = {name.lower() for name in target.columns} | {name for name, _ in LINEAGE}
    clashes = [name for name in names.model_dump().values() if name.lower() in taken]
    if clashes:
        raise ConfigError("history.columns", f"names {clashes} are already columns of the target")
    return names


def same_key(key: Sequence[str], left: str, right: str) -> exp.Expr:
    """``left.k1 = right.k1 AND ...``: plain equality, so that key indexes serve the join."""
    return and_all([col(k, left).eq(col(k, right)) for k in key])


def full_col(target: exp.Table, name: str) -> exp.Column:
    """A column of ``target`` by the table's full name, as UPDATE and DELETE may need."""
    return exp.column(name, target.name, db=target.db or None, quoted=True)


def exists(query: exp.Select) -> exp.Exists:
    return exp.Exists(this=query)


def count_of(wh: Warehouse, source: exp.Expr, where: exp.Expr | None = None) -> int:
    query = exp.select(exp.Count(this=exp.Star())).from_(source)
    return int(wh.scalar(query.where(where) if where is not None else query) or 0)


def latest_rows(
    source: exp.Expr,
    columns: Sequence[str],
    partition: Sequence[exp.Expr],
    order: Sequence[exp.Ordered],
) -> exp.Select:
    """The last row of each partition by ``order``: ROW_NUMBER() over the descending order."""
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=list(partition),
        order=exp.Order(expressions=list(order)),
    )
    ranked = exp.select(*[col(c) for c in columns], exp.alias_(window, RANK, quoted=True))
    return (
        exp.select(*[col(c) for c in columns])
        .from_(ranked.from_(source).subquery("_tg_ranked"))
        .where(col(RANK).eq(lit(1)))
    )


def last_of_each(
    wh: Warehouse,
    staged: exp.Table,
    name: str,
    columns: Sequence[str],
    partition: Sequence[str],
    order: Sequence[exp.Ordered],
) -> exp.Table:
    """The staged rows, one per ``partition`` (the last by ``order``).

    Files usually arrive with duplicates already settled, so the rows are copied into the
    temporary table ``name`` only when some partition has more than one.
    """
    groups = (
        exp.select(*[col(c) for c in partition])
        .from_(staged)
        .group_by(*[col(c) for c in partition])
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=lit(1)))
    )
    if not count_of(wh, groups.subquery("_tg_repeated")):
        return staged
    query = latest_rows(staged, columns, [col(c) for c in partition], order)
    return wh.create_temp(name, query)


def last_first(target: TargetConfig) -> list[exp.Ordered]:
    """Later rows first: by the declared order column (NULL lowest), then by row number."""
    order = [exp.Ordered(this=col(ROW), desc=True)]
    if target.order_by:
        order.insert(0, exp.Ordered(this=col(target.order_by), desc=True, nulls_first=False))
    return order


def names_of(rows: Batches) -> list[str]:
    return rows.names if isinstance(rows, Rows) else list(rows.schema.names)


def only_columns(rows: Batches, names: Sequence[str], mode: str) -> Batches:
    """The rows with exactly these columns, in this order; an absent one is an error."""
    missing = [name for name in names if name not in names_of(rows)]
    if missing:
        raise WarehouseError(f"a {mode} load needs the batch columns {missing}")
    if names_of(rows) == list(names):
        return rows
    if isinstance(rows, Rows):
        picked = exp.select(*[col(name) for name in names]).from_(rows.query.subquery("_tg_rows"))
        return Rows(rows.con, picked)
    schema = pa.schema([rows.schema.field(name) for name in names])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in rows:
            yield batch.select(list(names))

    return pa.RecordBatchReader.from_batches(schema, batches())


def check_keys(wh: Warehouse, staged: exp.Table, key: Sequence[str], name: str) -> None:
    """A row without a key cannot be matched to its history; refuse the file rather than
    store such rows again on every load."""
    nulls = count_of(wh, staged, exp.or_(*[col(k).is_(exp.null()) for k in key]))
    if nulls:
        raise WarehouseError(
            f"{nulls} rows for target {name} have no value in a key column {list(key)};"
            " declare the key columns required: true"
        )


def with_column(
    rows: pa.RecordBatchReader, name: str, value: object, kind: pa.DataType
) -> pa.RecordBatchReader:
    """The same stream with one more column holding ``value`` in every row."""
    schema = rows.schema.append(pa.field(name, kind))

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in rows:
            constant = pa.array([value] * batch.num_rows, type=kind)
            yield pa.RecordBatch.from_arrays([*batch.columns, constant], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
