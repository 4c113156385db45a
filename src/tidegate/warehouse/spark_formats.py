"""Table formats of a Spark warehouse: plain Parquet, or a format with row-level changes.

Plain Parquet tables (the default) have no ``MERGE``, ``UPDATE`` or ``DELETE``: those are
partition rewrites (``spark_rewrite.py``). Delta Lake and Iceberg tables change rows in
place, each statement a commit of the table's log, so there a merge target's load is one
``MERGE INTO`` (the bucket of each new row computed in its ``INSERT`` clause), an
``UPDATE ... FROM`` is the ``MERGE`` that matches the same rows, and ``UPDATE`` and
``DELETE`` run as they are.

Both need their packages on the session (``spark.jars.packages`` and the session's SQL
extensions, see docs/warehouses.md), which cannot be fetched offline: what is tested here
is that each statement is Spark SQL (Spark's own parser reads it) and that a session
without the format is refused when connecting, naming what to configure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from tidegate.warehouse.base import UPSERT_TARGET, merge_statement

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PARQUET = "parquet"
# The formats with row-level changes, and what a session needs to have them.
ROW_LEVEL: dict[str, str] = {
    "delta": (
        "spark.jars.packages: io.delta:delta-spark_2.13:<version>, spark.sql.extensions:"
        " io.delta.sql.DeltaSparkSessionExtension and spark.sql.catalog.spark_catalog:"
        " org.apache.spark.sql.delta.catalog.DeltaCatalog"
    ),
    "iceberg": (
        "spark.jars.packages: org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:<version>,"
        " spark.sql.extensions:"
        " org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions and a catalog"
        " (spark.sql.catalog.<name>: org.apache.iceberg.spark.SparkCatalog, then catalog: <name>)"
    ),
}


def row_level(table_format: str | None) -> bool:
    """Whether tables of this format change rows in place (MERGE, UPDATE, DELETE)."""
    return (table_format or PARQUET) in ROW_LEVEL


def provider_problem(session: SparkSession, table_format: str) -> str | None:
    """Why the session cannot keep tables in ``table_format`` (None: it can, or it cannot
    be asked: Spark Connect has no driver JVM to look the data source up in)."""
    if table_format not in ROW_LEVEL:
        return None
    jvm = getattr(session, "_jvm", None)
    if jvm is None:
        return None
    lookup = jvm.org.apache.spark.sql.execution.datasources.DataSource
    try:
        lookup.lookupDataSource(table_format, session._jsparkSession.sessionState().conf())
    except Exception:  # py4j raises the JVM's ClassNotFoundException in its own tree
        return (
            f"table_format: {table_format} needs {table_format} on the Spark session,"
            f" which does not have it; give {ROW_LEVEL[table_format]} (in conf)"
        )
    return None


def merge_into(
    into: exp.Table,
    source: exp.Table,
    key: Sequence[str],
    matched: Sequence[tuple[exp.Expr, dict[str, exp.Expr]]],
    columns: Sequence[str],
    bucket: tuple[str, exp.Expr] | None,
) -> exp.Merge:
    """The upsert of ``Warehouse.upsert`` as one ``MERGE INTO``; a new row of a bucketed
    table gets its bucket (``bucket``: the column and its value from the source row)."""
    merge = merge_statement(into, source, key, matched, columns)
    if bucket is None:
        return merge
    name, value = bucket
    for when in merge.args["whens"].expressions:
        insert = when.args.get("then")
        if not when.args.get("matched") and isinstance(insert, exp.Insert):
            insert.this.append("expressions", exp.column(name, quoted=True))
            insert.expression.append("expressions", value.copy())
    return merge


def update_as_merge(update: exp.Update) -> exp.Update | exp.Merge:
    """``UPDATE t SET ... FROM s WHERE c`` as ``MERGE INTO t USING s ON c WHEN MATCHED
    THEN UPDATE SET ...``, which Spark has (it has no ``UPDATE ... FROM``); an ``UPDATE``
    without ``FROM`` as it is. tidegate's sources match a row at most once (one per key,
    or per key and start), as MERGE requires."""
    given = update.args.get("from_")
    if given is None:
        return update
    target = update.this
    where = update.args.get("where")
    condition: exp.Expr = where.this if where is not None else exp.true()
    setting = [
        exp.EQ(this=exp.column(e.this.name, quoted=True), expression=_aliased(e.expression, target))
        for e in update.expressions
    ]
    when = exp.When(matched=True, then=exp.Update(expressions=setting))
    return exp.Merge(
        this=exp.alias_(target.copy(), UPSERT_TARGET, table=True, quoted=True),
        using=given.this.copy(),
        on=_aliased(condition, target),
        whens=exp.Whens(expressions=[when]),
    )


def _aliased(expression: exp.Expr, target: exp.Expr) -> exp.Expr:
    """A copy of ``expression`` whose columns of the updated table (named by its name, as
    ``UPDATE ... FROM`` names them) are the merge target's alias."""

    def rename(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.table == target.name:
            return exp.column(node.name, UPSERT_TARGET, quoted=True)
        return node

    return expression.copy().transform(rename, copy=False)
