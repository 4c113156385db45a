"""The Spark engine: reading, mapping and checking in a SparkSession, local or on a cluster.

The one module of tidegate's computing that imports pyspark (with ``warehouse/spark.py``).
Every tree is rendered by ``tidegate.transform.spark.to_spark``, so the DuckDB-only forms
tidegate emits (``try_strptime``, ``list_filter``, ``json_valid``, struct types, 1-based
list indexes) run as their Spark forms.

Spark has temporary views, not temporary tables: a *work table* here is a DataFrame held
at a fixed point (``localCheckpoint``) under a temporary view of its name. The statements
the read and transform rooms run on their work tables (``INSERT``, ``UPDATE``, ``DELETE``,
``ALTER TABLE ... RENAME COLUMN``) are applied by making the table's next DataFrame from
the last one, so the rooms' SQL is the same on both engines. Each table keeps the position
of its rows (``rowid``, as DuckDB's pseudo-column), which the read room numbers records by.

Files are read by Spark's own readers (CSV, text, Parquet), so on a cluster the executors
read them: ``landing`` must then be a path every executor reaches (a shared mount, HDFS,
an object store URL the cluster is configured for).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import sqlglot
from sqlglot import exp

from tidegate.compute.engine import (
    BATCH_ROWS,
    DelimitedRead,
    DelimitedSniff,
    ErrorKind,
    JsonRead,
    ParquetRead,
    RejectedLine,
    Row,
    SniffedDialect,
    WorkRelation,
    reason_of,
)
from tidegate.errors import ComputeError, TidegateError, TransientComputeError, TranspileError
from tidegate.sql import col, table
from tidegate.transform.spark import to_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DIALECT = "spark"
ROWID = "rowid"  # each work table's row positions, 0-based, as DuckDB's pseudo-column
CORRUPT = "_tg_corrupt"  # the text of a record Spark could not split into the columns
ORDINAL = "_tg_ordinal"
# A text no field holds, as the reader's NULL: only an empty field is read as NULL.
NO_NULL = "\u0000tidegate-no-null\u0000"
# Spark's message when ``length`` meets a list: the argument is one, and ``len`` is SIZE.
# The list's name, bare or as a lateral alias (``length(lateralAliasReference(x))``).
_LENGTH_OF_LIST = re.compile(
    r'"length\((?:lateralAliasReference\()?([^()"]+)\)?\)".*ARRAY', re.IGNORECASE | re.DOTALL
)

# Spark's error classes (the text before the first '.') and what they say of the work.
_KIND_OF_CLASS: dict[str, ErrorKind] = {
    "CONCURRENT_QUERY": "transient",
    "CONCURRENT_STREAM_LOG_UPDATE": "transient",
    "UNABLE_TO_ACQUIRE_MEMORY": "memory",
    "TASK_WRITE_FAILED": "resource",
    "OPERATION_CANCELED": "resource",
    "CAST_INVALID_INPUT": "data",
    "DIVIDE_BY_ZERO": "data",
    "ARITHMETIC_OVERFLOW": "data",
    "INVALID_ARRAY_INDEX": "data",
    "NUMERIC_VALUE_OUT_OF_RANGE": "data",
    "CANNOT_PARSE_TIMESTAMP": "data",
    "MALFORMED_RECORD_IN_PARSING": "data",
    "UNRESOLVED_COLUMN": "bind",
    "UNRESOLVED_ROUTINE": "bind",
    "DATATYPE_MISMATCH": "bind",
    "PARSE_SYNTAX_ERROR": "bind",
    "TABLE_OR_VIEW_NOT_FOUND": "bind",
    "WRONG_NUM_ARGS": "bind",
}


def errors() -> tuple[type[BaseException], ...]:
    """What pyspark raises of its own: its error tree (classic and Connect) and py4j's."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError)


class SparkEngine:
    """``Engine`` over one SparkSession; the session belongs to the process (pyspark hands
    one to every caller), so ``close`` forgets the work relations and leaves it running."""

    def __init__(self, session: SparkSession) -> None:
        self._spark = session
        self._tables: dict[str, DataFrame] = {}  # work tables, with their ROWID column
        self._views: set[str] = set()
        self._arrays: set[str] = set()  # names Spark has shown to hold lists
        self.ERRORS = errors()

    @property
    def dialect(self) -> str:
        return DIALECT

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return self.ERRORS

    @property
    def session(self) -> SparkSession:
        return self._spark

    # ------------------------------------------------------------------ rendering

    def _frame(self, statement: exp.Expr | str, params: Sequence[Any] = ()) -> DataFrame:
        """The DataFrame of a query (a compute-dialect tree, or Spark SQL text), analysed.

        ``len(x)`` is ``length`` or ``size`` depending on x's type, which only Spark knows:
        when it refuses ``length`` of a list, the name is learned and the query rendered
        again (once per name, for the engine's life)."""
        while True:
            sql = self.render(statement)
            try:
                return self._spark.sql(sql, args=list(params)) if params else self._spark.sql(sql)
            except self.ERRORS as exc:
                found = _LENGTH_OF_LIST.search(str(exc))
                name = found.group(1).strip("`") if found else None
                if name is None or name in self._arrays:
                    raise
                self._arrays.add(name)

    def frame(self, query: exp.Query) -> DataFrame:
        """A query's DataFrame, for the Spark warehouse to write without leaving Spark."""
        return self._frame(query)

    def render(self, statement: exp.Expr | str) -> str:
        """Spark SQL of a compute-dialect tree; text (already Spark's) with the learned
        lists' ``length`` made ``size``."""
        if isinstance(statement, str):
            if not self._arrays or "length" not in statement.lower():
                return statement
            tree = sqlglot.parse_one(statement, read=DIALECT)
            return _sized(tree, self._arrays).sql(dialect=DIALECT)
        try:
            return to_spark(self._expanded(statement), self._arrays)
        except TranspileError:
            raise
        except Exception as exc:  # a tree sqlglot cannot render: tidegate's bug
            raise TranspileError(reason_of(exc)) from exc

    def _expanded(self, tree: exp.Expr) -> exp.Expr:
        """DuckDB's ``* REPLACE (...)`` and ``* EXCLUDE (...)``, which Spark lacks, as the
        columns of the one relation the SELECT reads, which only the session knows."""
        if not any(_special(s) for s in tree.find_all(exp.Star)):
            return tree
        tree = tree.copy()
        for select in list(tree.find_all(exp.Select)):
            if not any(_special(p) for p in select.expressions):
                continue
            source = select.args["from_"].this if select.args.get("from_") else None
            if not isinstance(source, exp.Table) or select.args.get("joins"):
                raise TranspileError("* REPLACE or * EXCLUDE reads one table or view on Spark")
            names = self._names_of(source)
            projections: list[exp.Expr] = []
            for p in select.expressions:
                projections += _star_columns(p, names) if _special(p) else [p]
            select.set("expressions", projections)
        return tree

    def _names_of(self, source: exp.Table) -> list[str]:
        name = source.sql(dialect=DIALECT) if source.db else _quoted(source.name)
        return [c for c in self._spark.table(name).columns if c != ROWID]

    def _part(self, node: exp.Expr, parsed: bool) -> str:
        return node.sql(dialect=DIALECT) if parsed else self.render(node)

    # ------------------------------------------------------------------ statements

    def execute(self, statement: exp.Expr | str, params: Sequence[Any] = ()) -> list[Row]:
        parsed = isinstance(statement, str)
        tree = (
            sqlglot.parse_one(statement, read=DIALECT) if isinstance(statement, str) else statement
        )
        handler = self._STATEMENTS.get(type(tree))
        if handler is not None and handler(self, tree, parsed, params):
            return []
        frame = self._frame(statement, params)
        if isinstance(tree, exp.Query | exp.Describe | exp.Show):
            return [tuple(row) for row in frame.collect()]
        return []

    def execute_many(self, statement: exp.Expr, rows: Sequence[Sequence[Any]]) -> None:
        for params in rows:
            self.execute(statement, params)

    def fetch_arrow(self, query: exp.Query) -> pa.Table:
        return _arrow(self._frame(query))

    def batches(self, query: exp.Query, rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
        data = self.fetch_arrow(query)
        return pa.RecordBatchReader.from_batches(data.schema, data.to_batches(rows))

    # ------------------------------------------------------------------ work relations

    def create(self, name: str, source: exp.Query | pa.Table, *, view: bool = False) -> None:
        if isinstance(source, pa.Table):
            self._store(name, self._spark.createDataFrame(source))
            return
        frame = self._frame(source)
        if view:
            self._view(name, frame)
        else:
            self._store(name, frame)

    def append(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        arrow = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
        if arrow.num_rows == 0:
            return
        self._insert(name, self._spark.createDataFrame(arrow), None)

    def drop(self, *names: str) -> None:
        for name in names:
            self._tables.pop(name, None)
            self._views.discard(name)
            self._spark.catalog.dropTempView(name)
            self._spark.catalog.dropTempView(_full(name))

    def work_relations(self) -> list[WorkRelation]:
        views = [WorkRelation(name, True) for name in sorted(self._views)]
        return views + [WorkRelation(name, False) for name in sorted(self._tables)]

    def columns(self, name: str) -> list[tuple[str, exp.DataType]]:
        fields = self._spark.table(_quoted(name)).schema.fields
        return [(f.name, spark_type(f.dataType.simpleString())) for f in fields]

    def register(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        arrow = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
        if arrow.num_columns == 0:
            self._view(name, self._spark.sql("SELECT 1 AS `_tg_none` WHERE FALSE"))
            return
        self._view(name, self._spark.createDataFrame(arrow))

    def unregister(self, name: str) -> None:
        self.drop(name)

    def _view(self, name: str, frame: DataFrame) -> None:
        self._tables.pop(name, None)
        self._spark.catalog.dropTempView(_full(name))
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def _store(self, name: str, frame: DataFrame, positioned: bool = False) -> None:
        """Hold ``frame`` as the work table ``name``; its rows are numbered in their order
        unless they already carry ``rowid``."""
        from pyspark.sql import functions as F
        from pyspark.sql.window import Window

        if not positioned:
            order = Window.orderBy(F.monotonically_increasing_id())
            frame = frame.withColumn(ROWID, F.row_number().over(order) - F.lit(1))
        held = frame.localCheckpoint(eager=True)
        self._views.discard(name)
        self._tables[name] = held
        held.createOrReplaceTempView(_full(name))
        held.drop(ROWID).createOrReplaceTempView(name)

    def _table(self, name: str) -> DataFrame:
        found = self._tables.get(name)
        if found is None:
            raise ComputeError(f"internal error: {name!r} is not a work table of the Spark engine")
        return found

    # ------------------------------------------------------------------ work-table statements

    def _create_statement(self, node: exp.Create, parsed: bool, params: Sequence[Any]) -> bool:
        kind = str(node.args.get("kind") or "").upper()
        target = node.this
        if kind not in ("TABLE", "VIEW"):
            return False
        query = node.expression
        if isinstance(target, exp.Schema) and query is None:
            ddl = ", ".join(
                f"{_quoted(c.name)} {self._type(c.args['kind'], parsed)}"
                for c in target.expressions
                if isinstance(c, exp.ColumnDef)
            )
            self._store(target.this.name, self._spark.createDataFrame([], ddl))
            return True
        if not isinstance(target, exp.Table) or not isinstance(query, exp.Query):
            return False
        frame = self._frame(self._part(query, parsed), params)
        if kind == "VIEW":
            self._view(target.name, frame)
        else:
            self._store(target.name, frame)
        return True

    def _type(self, kind: exp.DataType, parsed: bool) -> str:
        if parsed:
            return kind.sql(dialect=DIALECT)
        return to_spark(exp.cast(exp.null(), kind))[len("CAST(NULL AS ") : -1]

    def _insert_statement(self, node: exp.Insert, parsed: bool, params: Sequence[Any]) -> bool:
        target = node.this
        names: list[str] | None = None
        if isinstance(target, exp.Schema):
            names = [i.name for i in target.expressions]
            target = target.this
        if not isinstance(target, exp.Table) or target.name not in self._tables:
            return False
        query = node.expression
        if isinstance(query, exp.Values):
            query = exp.select(exp.Star()).from_(query)
        self._insert(target.name, self._frame(self._part(query, parsed), params), names)
        return True

    def _insert(self, name: str, rows: DataFrame, names: list[str] | None) -> None:
        """Rows added after the table's last, by position (or by the names given)."""
        from pyspark.sql import functions as F

        held = self._table(name)
        columns = [c for c in held.columns if c != ROWID]
        given = names or columns[: len(rows.columns)]
        # By position: a query's columns may share a name (a literal named as a column).
        rows = rows.toDF(*[f"_tg_in_{i}" for i in range(len(rows.columns))])
        picked = dict(zip(given, rows.columns, strict=True))
        types = dict(held.dtypes)
        added = rows.select(
            *[
                (F.col(f"`{picked[c]}`") if c in picked else F.lit(None)).cast(types[c]).alias(c)
                for c in columns
            ]
        )
        start = held.count()
        from pyspark.sql.window import Window

        order = Window.orderBy(F.monotonically_increasing_id())
        added = added.withColumn(ROWID, F.row_number().over(order) - F.lit(1) + F.lit(start))
        self._store(name, held.unionByName(added), positioned=True)

    def _update_statement(self, node: exp.Update, parsed: bool, params: Sequence[Any]) -> bool:
        target = node.this
        if not isinstance(target, exp.Table) or target.name not in self._tables:
            return False
        if node.args.get("from_") or node.args.get("from"):
            raise ComputeError("internal error: UPDATE ... FROM on a Spark work table")
        held = self._table(target.name)
        setting = {e.this.name: e.expression for e in node.expressions}
        where = node.args.get("where")
        condition = where.this if where is not None else exp.true()
        values = [
            exp.alias_(
                exp.Case(
                    ifs=[exp.If(this=condition.copy(), true=setting[c].copy())], default=col(c)
                )
                if c in setting
                else col(c),
                c,
                quoted=True,
            )
            for c in held.columns
        ]
        query = exp.select(*values).from_(
            exp.alias_(table(_full(target.name)), target.name, quoted=True)
        )
        frame = self._frame(self._part(query, parsed), params)
        self._store(target.name, frame.select(*held.columns), positioned=True)
        return True

    def _delete_statement(self, node: exp.Delete, parsed: bool, params: Sequence[Any]) -> bool:
        target = node.this
        if not isinstance(target, exp.Table) or target.name not in self._tables:
            return False
        where = node.args.get("where")
        kept = exp.select(exp.Star()).from_(
            exp.alias_(table(_full(target.name)), target.name, quoted=True)
        )
        if where is not None:
            kept = kept.where(exp.not_(exp.func("coalesce", where.this.copy(), exp.false())))
        frame = self._frame(self._part(kept, parsed), params)
        self._store(target.name, frame, positioned=True)
        return True

    def _alter_statement(self, node: exp.Alter, parsed: bool, params: Sequence[Any]) -> bool:
        target = node.this
        if not isinstance(target, exp.Table) or target.name not in self._tables:
            return False
        held = self._table(target.name)
        for action in node.args.get("actions") or []:
            if isinstance(action, exp.RenameColumn):
                held = held.withColumnRenamed(action.this.name, action.args["to"].name)
            elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
                kind = self._type(action.args["dtype"], parsed)
                held = held.withColumn(action.this.name, held[_quoted(action.this.name)].cast(kind))
            else:
                return False
        self._store(target.name, held, positioned=True)
        return True

    def _drop_statement(self, node: exp.Drop, parsed: bool, params: Sequence[Any]) -> bool:
        if str(node.args.get("kind") or "").upper() not in ("TABLE", "VIEW"):
            return False
        names = [t.name for t in node.find_all(exp.Table)]
        if any(t.db for t in node.find_all(exp.Table)):
            return False
        self.drop(*names)
        return True

    _STATEMENTS: ClassVar[dict[type[exp.Expr], Callable[[Any, Any, bool, Sequence[Any]], bool]]] = {
        exp.Create: _create_statement,
        exp.Insert: _insert_statement,
        exp.Update: _update_statement,
        exp.Delete: _delete_statement,
        exp.Alter: _alter_statement,
        exp.Drop: _drop_statement,
    }

    # ------------------------------------------------------------------ reading files

    def sniff_delimited(self, sniff: DelimitedSniff) -> SniffedDialect | None:
        return None  # Spark has no sniffer: the read room's own decides

    def read_delimited(self, read: DelimitedRead, into: str | exp.Table) -> list[RejectedLine]:
        """Spark's CSV reader with every column as text; a record whose field count is not
        the header's is malformed to Spark, which keeps its text in ``CORRUPT``. Only into
        a work table of its own (no warehouse of Spark's reads into its raw layer)."""
        if not isinstance(into, str) or read.numbered is not None:
            raise ComputeError(f"{read.path}: Spark reads a file into a work table of its own")
        from pyspark.sql import functions as F
        from pyspark.sql.window import Window

        if read.skip_rows:
            raise ComputeError(
                f"{read.path}: read.skip_rows is not available on Spark; remove the rows first"
            )
        ddl = ", ".join(f"{_quoted(c)} STRING" for c in [*read.columns, CORRUPT])
        options: dict[str, Any] = {
            "sep": read.delimiter,
            "quote": read.quote or "\u0000",
            "escape": read.escape or "\u0000",
            "header": read.header,
            "multiLine": True,  # quoted line breaks; one file is one partition, in order
            "mode": "PERMISSIVE",
            "columnNameOfCorruptRecord": CORRUPT,
            "nullValue": NO_NULL,
            "ignoreLeadingWhiteSpace": False,
            "ignoreTrailingWhiteSpace": False,
            "enforceSchema": True,
            "maxCharsPerColumn": read.max_line_bytes,
        }
        if read.newline == "\r":  # LF and CRLF are told apart by the reader; a separator
            options["lineSep"] = "\r"  # given would end records inside quoted fields
        frame = self._spark.read.options(**options).schema(ddl).csv(read.path)
        order = Window.orderBy(F.monotonically_increasing_id())
        # Held before the corrupt column is read alone, which Spark refuses on a raw file.
        held = frame.withColumn(ORDINAL, F.row_number().over(order)).localCheckpoint(eager=True)
        bad = F.col(CORRUPT).isNotNull()
        first = 1 if read.header else 0
        rejected = [
            _rejected(int(ordinal) + first, str(raw))
            for ordinal, raw in held.where(bad).select(ORDINAL, CORRUPT).orderBy(ORDINAL).collect()
        ]
        # An empty field is NULL to Spark's reader: with nulls given, it is one of them
        # exactly when DuckDB's would be ('' among them); without, it is the empty string.
        nulls = set(read.null)
        values = []
        for c in read.columns:
            text = F.col(_quoted(c))
            if nulls:
                value = F.when(text.isin(*nulls), F.lit(None)).otherwise(text)
                if "" not in nulls:
                    value = F.coalesce(value, F.lit(""))
            else:
                value = F.coalesce(text, F.lit(""))
            values.append(value.alias(c))
        good = held.where(~bad).orderBy(ORDINAL).select(*values)
        self._insert(into, good, list(read.columns))
        return rejected

    def read_json(self, read: JsonRead, into: str) -> bool:
        from pyspark.sql import functions as F

        document = self._spark.read.text(read.path, wholetext=True).select(
            F.col("value").alias("doc")
        )
        if read.pointer is not None:
            document = document.select(F.get_json_object("doc", read.pointer).alias("doc"))
            found = document.collect()
            if not found or found[0][0] is None:
                return False
            many = str(found[0][0]).lstrip().startswith("[")
        else:
            many = read.shape == "array"
        if many:
            items = document.select(
                F.posexplode(F.from_json("doc", "array<string>")).alias("_tg_at", "value")
            ).orderBy("_tg_at")
            values = items.select(F.col("value"))
        else:
            values = document.select(F.col("doc").alias("value"))
        empty = [F.lit(None).alias(f"_tg_none_{i}") for i in range(2)]
        self._insert(into, values.select(*empty, "value"), None)
        return True

    def read_parquet(self, read: ParquetRead, into: str) -> None:
        from pyspark.sql import functions as F

        frame = self._spark.read.parquet(read.path)
        position = F.col("_metadata.row_index") + F.lit(1)
        picked = frame.select(
            position.cast("bigint").alias(read.row),
            *[F.col(f"`{old}`").alias(new) for old, new in read.columns],
        ).orderBy(read.row)
        self._store(into, picked)

    # ------------------------------------------------------------------ the engine itself

    def progress(self) -> float | None:
        return None  # Spark reports stages to its UI, not a statement's share done

    def kind(self, exc: BaseException) -> ErrorKind:
        condition = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
        name = condition() if callable(condition) else None
        if name:
            found = _KIND_OF_CLASS.get(str(name).split(".")[0])
            if found is not None:
                return found
        from pyspark.errors import AnalysisException, ParseException

        if isinstance(exc, AnalysisException | ParseException):
            return "bind"
        return "internal"

    def translate(self, exc: BaseException, label: str) -> TidegateError:
        reason = reason_of(exc)
        kind = self.kind(exc)
        if kind == "transient":
            return TransientComputeError(f"{label}: the compute engine asks for a retry: {reason}")
        if kind in ("memory", "resource"):
            return ComputeError(f"{label}: the Spark engine failed: {reason}")
        if kind == "internal":
            return ComputeError(f"{label}: internal error in the Spark engine: {reason}")
        return ComputeError(f"{label}: the compute engine refused a statement: {reason}")

    def close(self) -> None:
        self.drop(*[r.name for r in self.work_relations()])


def _star_columns(star: exp.Star, names: Sequence[str]) -> list[exp.Expr]:
    """The columns a ``*`` with REPLACE or EXCLUDE stands for, in the relation's order."""
    replaced = {e.alias_or_name: e for e in star.args.get("replace") or []}
    excluded = {e.name for e in star.args.get("except") or []}
    return [replaced.get(c) or col(c) for c in names if c not in excluded]


def _special(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) and bool(node.args.get("replace") or node.args.get("except"))


def _rejected(line: int, raw: str) -> RejectedLine:
    """A malformed record as the read room expects DuckDB's to be: numbered from the top of
    the file; the read room counts its fields to say how many it has."""
    text = raw.rstrip("\r\n")
    return RejectedLine(
        line, 0, "MISSING COLUMNS", text, "the record's field count is not the header's"
    )


def _arrow(frame: DataFrame) -> pa.Table:
    """The rows of a DataFrame as Arrow (timestamps without a zone, as DuckDB's)."""
    data: pa.Table = frame.toArrow()
    columns = []
    for field in data.schema:
        column = data.column(field.name)
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            column = column.cast(pa.timestamp(field.type.unit))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=data.column_names)


def spark_type(text: str) -> exp.DataType:
    """A Spark type's text (``array<string>``) as a sqlglot type."""
    return exp.DataType.build(text, dialect=DIALECT)


def _sized(tree: exp.Expr, arrays: set[str]) -> exp.Expr:
    def fix(node: exp.Expr) -> exp.Expr:
        column = node.this if isinstance(node, exp.Length) else None
        if isinstance(column, exp.Column) and column.name in arrays:
            return exp.ArraySize(this=column.copy())
        return node

    return tree.transform(fix)


def _full(name: str) -> str:
    """The view of a work table with its row positions."""
    return f"{name}__tg_rowid"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
