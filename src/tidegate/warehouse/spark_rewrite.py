"""Changing rows of plain Spark tables, and statements across Spark and the control store.

Plain Parquet tables have no ``DELETE`` or ``UPDATE``. A table of a file's rows is
partitioned by ``_file_id``, so a ``DELETE`` or ``UPDATE`` (an erasure, mostly) is applied
by rewriting the partitions of the files it touches: their rows are read, the change
applied to them in a query, and the partitions overwritten with the result (dynamic
partition overwrite); a partition left without rows is dropped. The rewritten files replace
the old ones, so an erased value is gone from the table's bytes, not just hidden. A table
without that partition column is rewritten whole.

An erasure's statements also join a target's rows with the ledger's tables (the records
already erased, the subject index), which live in the control store. For such a statement
each control table it reads is copied into the session as a temporary view first (they
are small: one row per erased or indexed record), and the statement runs in Spark; an
``INSERT`` into a control table has its rows computed in Spark and written to the control
store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from tidegate import faults
from tidegate.errors import WarehouseError
from tidegate.sql import col, lit, table
from tidegate.warehouse.base import Row
from tidegate.warehouse.batch import FILE_ID

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tidegate.warehouse.spark import SparkWarehouse


BUCKET = "_tg_bucket"  # the partition column of a merge or scd2 target: its key's bucket


def partition_of(session: SparkSession, target: str) -> str | None:
    """The column a Spark table is partitioned by, where it is ``_file_id`` (a table of a
    file's rows) or a key bucket (a merge or scd2 target); None for any other table."""
    for column in session.catalog.listColumns(target):
        if column.isPartition and column.name in (FILE_ID, BUCKET):
            return str(column.name)
    return None


MIRROR = "_tg_control_"  # the prefix of a control table's copy in the session


def reads_control(expression: exp.Expr, meta: str) -> bool:
    """Whether a statement that is not the control store's alone reads one of its tables."""
    return any(t.db == meta for t in expression.find_all(exp.Table))


def across(wh: SparkWarehouse, expression: exp.Expr) -> list[Row]:
    """A statement over Spark tables and control tables (see the module docstring)."""
    meta = wh.schemas.meta
    target = _target(expression)
    if isinstance(expression, exp.Insert) and target is not None and target.db == meta:
        return _insert_into_control(wh, expression, target)
    if target is not None and target.db == meta:
        raise WarehouseError(
            "internal error: a statement changes a control table from Spark tables"
            f" ({target.sql('spark')})"
        )
    with _mirrors(wh, expression) as local:
        if isinstance(local, exp.Delete | exp.Update):
            return wh.change(local)
        assert isinstance(local, exp.Expression)
        return wh.run_spark(local)


def rewrite(wh: SparkWarehouse, expression: exp.Delete | exp.Update) -> None:
    """A ``DELETE`` or ``UPDATE`` on a Spark table, as partition rewrites; on a work view,
    as the view's rows computed again."""
    target = expression.this
    if not isinstance(target, exp.Table):
        raise WarehouseError(f"internal error: no Spark form for {expression.sql('spark')}")
    where = expression.args.get("where")
    condition: exp.Expr = where.this if where is not None else exp.true()
    name = target.sql(dialect=wh.DIALECT)
    columns = wh.session.table(name).columns
    source = _source(expression)
    if not target.db and target.name in wh.temps:
        wh.hold(target.name, wh.session.sql(wh.render(_changed(expression, columns, source))))
        return
    by = partition_of(wh.session, name)
    parts: list[Any] = []
    changed = _changed(expression, columns, source)
    if by is not None:
        touched = exp.select(col(by, target.name)).distinct().from_(target.copy())
        if source is not None:
            touched = touched.join(source.copy(), on=condition.copy())
        else:
            touched = touched.where(condition.copy())
        parts = [row[0] for row in wh.run_spark(touched)]
        if not parts:
            return
        changed = changed.where(col(by, target.name).isin(*[lit(p) for p in parts]))
    frame = wh.session.sql(wh.render(changed)).localCheckpoint(eager=True)
    _overwrite(frame, name, columns)
    if by is not None:
        left = {row[0] for row in frame.select(by).distinct().collect()}
        for emptied in sorted(set(parts) - left):
            _empty(wh, target, by, emptied)
    faults.checkpoint("spark.rewritten")


def _source(expression: exp.Delete | exp.Update) -> exp.Expr | None:
    """The table an ``UPDATE ... FROM`` takes its values from (aliased), if any."""
    given = expression.args.get("from_")
    if given is None:
        return None
    if not isinstance(expression, exp.Update) or given.args.get("joins"):
        raise WarehouseError(f"internal error: no Spark form for {expression.sql('spark')}")
    source: exp.Expr = given.this
    return source


HIT = "_tg_hit"  # a column of an UPDATE's source row: it matched the target's row


def _changed(
    expression: exp.Delete | exp.Update, columns: list[str], source: exp.Expr | None
) -> exp.Select:
    """The rows of the table after the statement: a ``DELETE``'s without the rows it
    matches; an ``UPDATE``'s with the values it sets where its condition holds. With a
    source (``UPDATE ... FROM s WHERE c``) a row takes the values of the source row it
    matches by ``c``, found by a left join (tidegate's sources match a row at most once:
    one per key, or per key and start)."""
    target = expression.this
    where = expression.args.get("where")
    condition: exp.Expr = where.this if where is not None else exp.true()
    if isinstance(expression, exp.Delete):
        kept = exp.not_(exp.func("coalesce", condition.copy(), exp.false()))
        return exp.select(*[col(c) for c in columns]).from_(target.copy()).where(kept)
    setting = {e.this.name: e.expression for e in expression.expressions}
    if source is None:
        hit = condition
        query = exp.select().from_(target.copy())
    else:
        alias = source.alias_or_name
        hit = col(HIT, alias).is_(exp.true())
        marked = exp.select(exp.Star(), exp.alias_(exp.true(), HIT)).from_(source.unalias().copy())
        query = (
            exp.select()
            .from_(target.copy())
            .join(marked.subquery(alias), on=condition.copy(), join_type="left")
        )
    values: list[exp.Expr] = []
    for c in columns:
        value: exp.Expr = col(c, target.name)
        if c in setting:
            value = exp.Case(ifs=[exp.If(this=hit.copy(), true=setting[c].copy())], default=value)
        values.append(exp.alias_(value, c, quoted=True))
    return query.select(*values)


def _overwrite(frame: DataFrame, name: str, columns: list[str]) -> None:
    """Overwrite the partitions ``frame`` holds rows of (all of a table without them)."""
    frame.select(*[frame[f"`{c}`"] for c in columns]).write.insertInto(name, overwrite=True)


def _empty(wh: SparkWarehouse, target: exp.Table, by: str, value: Any) -> None:
    """Remove a partition left without rows, its files first: dropping the partition of a
    table with its own location forgets it but keeps its files, which the next write to
    that partition (or a recovery of partitions) would bring back. A static overwrite of
    the partition with no rows deletes them."""
    spec = exp.Partition(expressions=[exp.EQ(this=col(by), expression=lit(value))])
    types = [(c, t) for c, t in wh.session.table(target.sql(wh.DIALECT)).dtypes if c != by]
    nothing = exp.select(
        *[
            exp.alias_(
                exp.cast(exp.null(), exp.DataType.build(t, dialect=wh.DIALECT)), c, quoted=True
            )
            for c, t in types
        ]
    ).where(exp.false())
    into = target.copy()
    into.set("partition", spec)
    wh.run_spark(exp.Insert(this=into, expression=nothing, overwrite=True))
    wh.run_spark(_drop_partition(target, by, value))


def _drop_partition(target: exp.Table, by: str, value: Any) -> exp.Alter:
    spec = exp.Partition(expressions=[exp.EQ(this=col(by), expression=lit(value))])
    return exp.Alter(
        this=target.copy(),
        kind="TABLE",
        actions=[exp.DropPartition(expressions=[spec], exists=True)],
    )


def _target(expression: exp.Expr) -> exp.Table | None:
    if isinstance(expression, exp.Insert | exp.Delete | exp.Update):
        named = expression.this
        if isinstance(named, exp.Schema):
            named = named.this
        return named if isinstance(named, exp.Table) else None
    return None


def _insert_into_control(
    wh: SparkWarehouse, expression: exp.Insert, target: exp.Table
) -> list[Row]:
    """The rows of an INSERT's query, computed in Spark, written to the control store by
    the names the INSERT gives them."""
    query = expression.expression
    if not isinstance(query, exp.Query):
        raise WarehouseError(f"internal error: no Spark form for {expression.sql('spark')}")
    named = expression.this
    names = [i.name for i in named.expressions] if isinstance(named, exp.Schema) else None
    with _mirrors(wh, query) as local:
        assert isinstance(local, exp.Expression)
        data: pa.Table = wh.session.sql(wh.render(local)).toArrow()
    if names is not None:
        data = data.rename_columns(names)
    if data.num_rows:
        wh.control.write_arrow(
            target.name,
            target.db,
            pa.RecordBatchReader.from_batches(data.schema, data.to_batches()),
        )
    return []


def frame_of(wh: SparkWarehouse, query: exp.Query) -> DataFrame:
    """The rows of a query, computed now, over Spark tables, work views and copies of the
    control tables it reads."""
    with _mirrors(wh, query) as local:
        assert isinstance(local, exp.Expression)
        return wh.session.sql(wh.render(local)).localCheckpoint(eager=True)


@contextmanager
def _mirrors(wh: SparkWarehouse, expression: exp.Expr) -> Iterator[exp.Expr]:
    """``expression`` reading session copies of the control tables it names."""
    meta = wh.schemas.meta
    names = sorted({t.name for t in expression.find_all(exp.Table) if t.db == meta})
    made = []
    try:
        for name in names:
            view = MIRROR + name
            wh.session.createDataFrame(_control_rows(wh, name)).createOrReplaceTempView(view)
            made.append(view)

        def local(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and node.db == meta:
                copy = table(MIRROR + node.name)
                if node.args.get("alias") is not None:
                    copy.set("alias", node.args["alias"].copy())
                return copy
            return node

        yield expression.copy().transform(local)
    finally:
        for view in made:
            wh.session.catalog.dropTempView(view)


def _control_rows(wh: SparkWarehouse, name: str) -> pa.Table:
    """A control table's rows as Arrow; a column of NULLs only is text."""
    meta = wh.schemas.meta
    names = list(wh.control.columns_of(name, meta) or {})
    rows = wh.control.execute(exp.select(*[col(n) for n in names]).from_(table(name, meta)))
    arrays = []
    for index in range(len(names)):
        values = [row[index] for row in rows]
        array = pa.array(values)
        arrays.append(array.cast(pa.string()) if pa.types.is_null(array.type) else array)
    return pa.Table.from_arrays(arrays, names=names)
