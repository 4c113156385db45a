"""Spark as a warehouse: tables in a Spark catalog, reached through one SparkSession.

What is here: the session a project's ``warehouse:`` describes (``master`` or Spark Connect
``remote``, ``warehouse_dir``, ``conf``), statements rendered in Spark SQL, and rows written
to tables. Its compute engine is Spark too (``tidegate.compute.spark.SparkEngine`` on the
same session): files are read by Spark's readers and mapped and checked there, so a file's
rows go from the engine to its tables without leaving Spark.

Exactly once without transactions. Plain Spark tables commit each write on its own, so the
ledger, the runs and the quarantine index live in the transactional ``control`` store
(``warehouse/control.py``): every statement on the metadata schema goes there, and
``transaction()`` is the control store's. A table of a file's rows (a target, a raw table)
is partitioned by ``_file_id`` and a file's rows are written by overwriting its partition,
so the write is idempotent: the rows commit first, the ledger row after them; a crash in
between is repaired by the rerun, which overwrites that file's partition, and a file is
never counted twice.

History at scale. A merge or scd2 target is partitioned by a bucket of its key instead
(``_tg_bucket``, ``pmod(xxhash64(key), buckets)``): every row of a key is in one bucket,
so the ``UPDATE`` and ``DELETE`` of a load rewrite only the buckets of the file's keys,
never the whole dimension (``spark_rewrite.py``). The load's statements are the other
warehouses' (merge without ``MERGE``: ``UPDATE ... FROM`` and ``INSERT``), and its work
tables are session views over checkpointed rows. Re-applying a file changes nothing (its
rows equal the versions in force), so a crash before the ledger row commits is repaired
by the rerun as for a file's partition. Tables in a format that changes rows in place
(``table_format: delta | iceberg``) take ``MERGE``, ``UPDATE`` and ``DELETE`` as they are
instead (``spark_formats.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.config.models import WarehouseConfig
from tidegate.errors import ConnectionFailed, WarehouseError
from tidegate.sql import col, column_defs, table
from tidegate.warehouse import spark_formats, spark_rewrite
from tidegate.warehouse.base import UPSERT_SOURCE, Batches, Row, Rows, Warehouse
from tidegate.warehouse.batch import FILE_ID, ROW
from tidegate.warehouse.control import open_control
from tidegate.warehouse.spark_rewrite import BUCKET

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Settings a session gets unless the project's ``conf`` says otherwise: UTC, as DuckDB's
# ``_file.modified`` and every timestamp tidegate writes; partitions overwritten one by one.
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}

# Key buckets of a merge or scd2 target, unless the project's ``buckets`` says otherwise:
# a small delta rewrites a few of them; each holds at least one file.
BUCKETS = 32


def warehouse_dir(config: WarehouseConfig, root: Path) -> str:
    """Where tables live: a URL as given, a path relative to the project."""
    given = config.warehouse_dir or "spark-warehouse"
    if "://" in given:
        return given
    path = Path(given)
    return str(path if path.is_absolute() else root / path)


def session_conf(config: WarehouseConfig, root: Path) -> dict[str, str]:
    """Every setting of the session: the defaults, the warehouse folder, the project's own."""
    conf = {**DEFAULT_CONF, "spark.sql.warehouse.dir": warehouse_dir(config, root)}
    for key, value in config.conf.items():
        conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return conf


def build_session(config: WarehouseConfig, root: Path) -> SparkSession:
    """The session of a project: Spark Connect with ``remote``, else ``master`` (local[2]
    when neither is given). An existing session in this process is reused, as pyspark does."""
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.appName("tidegate")
    if config.remote:
        builder = builder.remote(config.remote)
    else:
        builder = builder.master(config.master or "local[2]")
    for key, value in session_conf(config, root).items():
        builder = builder.config(key, value)
    session: SparkSession = builder.getOrCreate()
    _quiet()
    return session


def _quiet() -> None:
    """pyspark logs every statement Spark refuses to stderr, with its whole plan (its
    query-context loggers). tidegate catches each refusal and tells it itself (or learns
    from it: the length of a list), so those lines say nothing a user needs."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


class SparkWarehouse(Warehouse):
    NAME: ClassVar[str] = "spark"
    DIALECT: ClassVar[str] = "spark"
    SUPPORTS_TRANSACTIONS: ClassVar[bool] = False
    JOIN_INDEXES: ClassVar[bool] = False  # Spark tables have no indexes
    MODELS_AS_TABLES: ClassVar[bool] = True
    OWN_SETTINGS: ClassVar[tuple[str, ...]] = (
        "master",
        "remote",
        "warehouse_dir",
        "catalog",
        "control",
        "conf",
        "buckets",
        "table_format",
    )

    @classmethod
    def settings_problem(cls, config: WarehouseConfig) -> str | None:
        if config.master and config.remote:
            return "give either 'master' or 'remote' (Spark Connect), not both"
        return super().settings_problem(config)

    def __init__(self, config: WarehouseConfig, root: Path) -> None:
        super().__init__(config, root)
        self._session: SparkSession | None = None
        self._control: Warehouse | None = None
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}  # (schema, name): key
        self.temps: set[str] = set()  # this session's work views

    @property
    def description(self) -> str:
        where = self.config.remote or self.config.master or "local[2]"
        return f"spark warehouse ({where})"

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            raise WarehouseError("the Spark warehouse is not connected")
        return self._session

    @property
    def control(self) -> Warehouse:
        """The transactional store of the ledger (see the module docstring)."""
        if self._control is None:
            raise WarehouseError("the Spark warehouse is not connected")
        return self._control

    def connect(self) -> None:
        try:
            self._session = build_session(self.config, self.root)
        except Exception as exc:  # py4j and Spark Connect raise their own trees
            raise ConnectionFailed(
                self.description, f"cannot start Spark: {_first_line(exc)}"
            ) from exc
        self._use(self._session)
        control = open_control(self.config, self.root)
        control.connect()
        self._control = control
        self.attach()

    def _use(self, session: SparkSession) -> None:
        """The session's current catalog is ``catalog`` (where tables are made and found);
        a ``table_format`` the session cannot keep is refused here, before any file."""
        if self.config.catalog:
            try:
                session.catalog.setCurrentCatalog(self.config.catalog)
            except Exception as exc:
                raise ConnectionFailed(
                    self.description,
                    f"catalog {self.config.catalog!r} is not configured on the session"
                    f" (spark.sql.catalog.{self.config.catalog} in conf): {_first_line(exc)}",
                ) from exc
        problem = spark_formats.provider_problem(session, self.table_format)
        if problem is not None:
            raise ConnectionFailed(self.description, problem)

    @property
    def table_format(self) -> str:
        return self.config.table_format or spark_formats.PARQUET

    def location(self, name: str, schema: str) -> str:
        """Where a table's files live: ``<warehouse_dir>/<schema>/<name>``."""
        return f"{warehouse_dir(self.config, self.root).rstrip('/')}/{schema}/{name}"

    def attach(self) -> None:
        """Make the tables under a local ``warehouse_dir`` known to the session's catalog.

        Without a metastore (Spark's in-memory catalog) a new session knows no table, yet
        the files of earlier runs are there: each folder ``<schema>/<name>`` becomes the
        table over its files, its partitions found again; a table this session knew from
        an earlier run is found again the same way, since another process may have written
        to it since (its files and partitions as the catalog remembers them would be
        stale). With a metastore (Hive, Unity) the tables are known and kept current by the
        writers, and nothing is done twice.
        """
        root = Path(warehouse_dir(self.config, self.root))
        if "://" in str(self.config.warehouse_dir or "") or not root.is_dir():
            return
        in_memory = self.session.conf.get("spark.sql.catalogImplementation") == "in-memory"
        for folder in sorted(p for p in root.glob("*/*") if p.is_dir()):
            schema, name = folder.parent.name, folder.name
            known = self.columns_of(name, schema) is not None
            if (known and not in_memory) or not any(folder.rglob("*.parquet")):
                continue
            if known:  # by an earlier run of this process: others may have written since
                self.execute(exp.Drop(tables=[table(name, schema)], kind="TABLE", exists=True))
            self.ensure_schema(schema)
            self.execute(file_table(table(name, schema), [], str(folder), fmt=self.table_format))
            # Partitions (by file or by key bucket) to find again; Delta and Iceberg keep
            # theirs in the table's log.
            parted = any(folder.glob("*=*"))
            if parted and self.table_format == spark_formats.PARQUET:
                self.execute(
                    exp.Alter(
                        this=table(name, schema),
                        kind="TABLE",
                        actions=[exp.var("RECOVER PARTITIONS")],
                    )
                )

    def engine(self, memory_limit: str) -> Engine | None:
        """Spark computes on the warehouse's own session (``memory_limit`` is DuckDB's:
        a cluster's memory is its own configuration)."""
        from tidegate.compute.spark import SparkEngine

        return SparkEngine(self.session)

    def close(self) -> None:
        # The session stays for the process: pyspark hands the same one to the next caller,
        # and stopping a shared SparkContext would end it for them too.
        self._session = None
        if self._control is not None:
            self._control.close()
            self._control = None

    # -- statements: the metadata schema is the control store's ---------------------------

    def _in_control(self, expression: exp.Expression) -> bool:
        if isinstance(expression, exp.Create) and str(expression.args.get("kind")) == "SCHEMA":
            named = expression.this
            return isinstance(named, exp.Table | exp.Identifier) and named.name == self.schemas.meta
        tables = list(expression.find_all(exp.Table))
        return bool(tables) and all(t.db == self.schemas.meta for t in tables)

    def execute(self, expression: exp.Expression) -> list[Row]:
        if self._in_control(expression):
            return self.control.execute(expression)
        if isinstance(expression, exp.Insert):
            expression = self._bucketed(expression)
        if spark_rewrite.reads_control(expression, self.schemas.meta):
            return spark_rewrite.across(self, expression)
        if isinstance(expression, exp.Delete | exp.Update):
            return self.change(expression)
        return super().execute(expression)

    def change(self, expression: exp.Delete | exp.Update) -> list[Row]:
        """A ``DELETE`` or ``UPDATE`` of a table: in place where the table format changes
        rows (an ``UPDATE ... FROM`` as the ``MERGE`` that matches the same rows), else as
        partition rewrites; of a work view, as its rows computed again."""
        target = expression.this
        temp = isinstance(target, exp.Table) and not target.db and target.name in self.temps
        if temp or not spark_formats.row_level(self.table_format):
            spark_rewrite.rewrite(self, expression)
            return []
        statement = (
            spark_formats.update_as_merge(expression)
            if isinstance(expression, exp.Update)
            else expression
        )
        return super().execute(statement)

    def upsert(
        self,
        into: exp.Table,
        source: exp.Table,
        key: Sequence[str],
        matched: Sequence[tuple[exp.Expr, dict[str, exp.Expr]]],
        columns: Sequence[str],
    ) -> None:
        """One ``MERGE INTO`` where the table format has it, else the other warehouses'
        ``UPDATE ... FROM`` and ``INSERT`` (bucket rewrites)."""
        if not spark_formats.row_level(self.table_format):
            super().upsert(into, source, key, matched, columns)
            return
        value = self.bucket(into, UPSERT_SOURCE)
        bucket = None if value is None else (BUCKET, value)
        super().execute(spark_formats.merge_into(into, source, key, matched, columns, bucket))

    def _bucketed(self, insert: exp.Insert) -> exp.Insert:
        """An ``INSERT (columns) query`` into a keyed table, with each row's bucket: the
        query's rows, named by the columns, and their bucket."""
        named = insert.this
        if not isinstance(named, exp.Schema) or not isinstance(named.this, exp.Table):
            return insert
        bucket = self.bucket(named.this, "_tg_q")
        query = insert.expression
        if bucket is None or not isinstance(query, exp.Query):
            return insert
        names = [i.name for i in named.expressions]
        alias = exp.TableAlias(
            this=exp.to_identifier("_tg_q"),
            columns=[exp.to_identifier(n, quoted=True) for n in names],
        )
        rows = exp.Subquery(this=query.copy(), alias=alias)
        picked = exp.select(
            *[col(n, "_tg_q") for n in names], exp.alias_(bucket, BUCKET, quoted=True)
        )
        columns = [*named.expressions, exp.to_identifier(BUCKET, quoted=True)]
        return exp.insert(picked.from_(rows), named.this.copy(), columns=columns)

    def render(self, expression: exp.Expression) -> str:
        """Spark SQL of a statement, by the transpiler the engine uses: a SQL model (DuckDB's
        dialect, as mappings) keeps its meaning, DuckDB-only functions included."""
        from tidegate.transform.spark import to_spark

        return to_spark(expression)

    def run_spark(self, expression: exp.Expression) -> list[Row]:
        """A statement of Spark tables only, as is."""
        return super().execute(expression)

    def _run(self, sql: str) -> list[Row]:
        try:
            return [tuple(row) for row in self.session.sql(sql).collect()]
        except Exception as exc:
            raise WarehouseError(f"Spark refused a statement: {_first_line(exc)}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The control store's transaction: the ledger's rows commit together; a Spark
        table's writes inside it are already committed, idempotently per file."""
        with self.control.transaction():
            yield

    def forget_catalog(self) -> None:
        super().forget_catalog()
        if self._control is not None:
            self._control.forget_catalog()

    # -- tables ----------------------------------------------------------------------

    def columns_of(self, name: str, schema: str) -> dict[str, str] | None:
        if schema == self.schemas.meta:
            return self.control.columns_of(name, schema)
        return super().columns_of(name, schema)

    def _columns_of(self, name: str, schema: str) -> dict[str, str] | None:
        target = table(name, schema).sql(self.DIALECT)
        if not self.session.catalog.tableExists(target):
            return None
        fields = self.session.table(target).schema.fields
        return {f.name: f.dataType.simpleString() for f in fields}

    def ensure_schema(self, name: str) -> None:
        if name == self.schemas.meta:
            self.control.ensure_schema(name)
            return
        super().ensure_schema(name)

    def ensure_table(
        self,
        name: str,
        schema: str,
        columns: Sequence[tuple[str, exp.DataType]],
        primary_key: Sequence[str] = (),
    ) -> list[str]:
        if schema == self.schemas.meta:
            return self.control.ensure_table(name, schema, columns, primary_key)
        if self.columns_of(name, schema) is None:
            made, by = list(columns), FILE_ID
            if (schema, name) in self._keys:  # by key bucket, not by file
                made, by = [*made, (BUCKET, exp.DataType.build("int"))], BUCKET
            where = self.location(name, schema)
            self.execute(file_table(table(name, schema), made, where, by, self.table_format))
            return []
        return super().ensure_table(name, schema, columns)

    def keyed(self, name: str, schema: str, key: Sequence[str]) -> None:
        self._keys[(schema, name)] = tuple(key)

    def bucket(self, name: exp.Table, values: str | None = None) -> exp.Expression | None:
        """The bucket of a row of a keyed table (its key columns, of ``values`` when
        given): ``pmod(xxhash64(key), buckets)``; None for a table without buckets."""
        key = self._keys.get((name.db, name.name))
        if key is None:
            return None
        hashed = exp.func("xxhash64", *[col(k, values) for k in key])
        count = exp.Literal.number(self.config.buckets or BUCKETS)
        return exp.cast(exp.func("pmod", hashed, count), "int")

    def ensure_index(self, name: str, schema: str, index: str, columns: Sequence[str]) -> None:
        if schema == self.schemas.meta:
            self.control.ensure_index(name, schema, index, columns)

    def drop_index(self, name: str, schema: str, index: str) -> None:
        if schema == self.schemas.meta:
            self.control.drop_index(name, schema, index)

    def lock(self, key: str) -> bool:
        return self.control.lock(key)

    def unlock(self, key: str) -> None:
        self.control.unlock(key)

    # -- work tables: session views over checkpointed rows -----------------------------

    def temp_table(self, name: str) -> exp.Table:
        """A work table is a temporary view of this session, named without a schema."""
        return table(name)

    def drop_temp(self, name: str) -> None:
        self.session.catalog.dropTempView(name)
        self.temps.discard(name)

    def hold(self, name: str, frame: DataFrame) -> exp.Table:
        """``frame``'s rows, computed once (checkpointed), as the work view ``name``."""
        frame.localCheckpoint(eager=True).createOrReplaceTempView(name)
        self.temps.add(name)
        return self.temp_table(name)

    def create_temp(self, name: str, query: exp.Query) -> exp.Table:
        return self.hold(name, spark_rewrite.frame_of(self, query))

    def stage(
        self,
        name: str,
        columns: Sequence[tuple[str, exp.DataType]],
        rows: Batches,
    ) -> exp.Table:
        """The rows, in these columns and types, as the work view ``name``: a query of
        this session's engine stays in Spark, other rows are handed over as Arrow."""
        from pyspark.sql import functions as F

        frame = self._frame(rows)
        present = set(frame.columns)
        typed = [
            (F.col(f"`{c}`") if c in present else F.lit(None)).cast(kind.sql(self.DIALECT)).alias(c)
            for c, kind in columns
        ]
        return self.hold(name, frame.select(*typed))

    def _frame(self, rows: Batches) -> DataFrame:
        from tidegate.compute.spark import SparkEngine

        if isinstance(rows, Rows):
            if isinstance(rows.con, SparkEngine) and rows.con.session is self.session:
                return rows.con.frame(rows.query)
            rows = rows.batches()
        data = rows.read_all()
        return self.session.createDataFrame(data) if data.num_rows else _empty(self.session, data)

    # -- rows ------------------------------------------------------------------------

    def write_rows(self, name: str, schema: str, rows: Rows) -> int:
        """Rows of the Spark engine go to the table inside Spark; others as Arrow."""
        if schema == self.schemas.meta:
            return self.control.write_arrow(name, schema, rows.batches())
        from tidegate.compute.spark import SparkEngine

        if isinstance(rows.con, SparkEngine) and rows.con.session is self.session:
            frame = rows.con.frame(rows.query)
            return self._write_frame(name, schema, frame)
        return self.write_arrow(name, schema, rows.batches())

    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        """Rows made in Python (or by another engine), written as ``write_rows`` writes."""
        if schema == self.schemas.meta:
            return self.control.write_arrow(name, schema, batches)
        data = batches.read_all()
        if data.num_rows == 0:
            return 0
        return self._write_frame(name, schema, self.session.createDataFrame(data))

    def _write_frame(self, name: str, schema: str, frame: DataFrame) -> int:
        """Write by column name. A table partitioned by ``_file_id`` has the partitions of
        these rows' files overwritten (dynamic partition overwrite), others kept: writing a
        file's rows again replaces them instead of adding a second copy. A keyed table's
        rows get their bucket and are added."""
        from pyspark.sql import functions as F

        named = table(name, schema)
        target = named.sql(self.DIALECT)
        held = self.session.table(target)
        partitioned = spark_rewrite.partition_of(self.session, target) == FILE_ID
        bucket = self.bucket(named)
        if bucket is not None:
            frame = frame.withColumn(BUCKET, F.expr(self.render(bucket)))
        frame = frame.localCheckpoint(eager=True)
        count = frame.count()
        if count == 0:
            return 0
        if partitioned and ROW in held.columns and ROW in frame.columns:
            frame = _with_kept(held, frame).localCheckpoint(eager=True)

        types = dict(held.dtypes)
        present = set(frame.columns)
        picked = frame.select(
            *[
                (F.col(f"`{c}`") if c in present else F.lit(None)).cast(types[c]).alias(c)
                for c in held.columns
            ]
        )
        picked.write.insertInto(target, overwrite=partitioned)
        return int(count)


def file_table(
    name: exp.Table,
    columns: Sequence[tuple[str, exp.DataType]],
    location: str,
    by: str = FILE_ID,
    fmt: str = spark_formats.PARQUET,
) -> exp.Create:
    """``CREATE TABLE IF NOT EXISTS name (...) USING PARQUET ... LOCATION`` (or the table
    format ``fmt``: DELTA, ICEBERG), partitioned by ``by`` (``_file_id``, or a key bucket)
    when it has that column (its partition column last, as Spark keeps it).
    Without columns, a table over the files already at ``location``. The location is
    explicit so that the files outlive any one session's catalog (``attach``).

    >>> file_table(table("t", "core"), [("_file_id", exp.DataType.build("text")),
    ...     ("a", exp.DataType.build("int"))], "/lake/core/t").sql("spark")
    "CREATE TABLE IF NOT EXISTS `core`.`t` (`a` INT, `_file_id` STRING) USING PARQUET PARTITIONED BY (_file_id) LOCATION '/lake/core/t'"
    """
    parted = [(c, kind) for c, kind in columns if c == by]
    ordered = [(c, kind) for c, kind in columns if c != by] + parted
    properties: list[exp.Expr] = [exp.FileFormatProperty(this=exp.var(fmt.upper()))]
    if parted:
        properties.append(
            exp.PartitionedByProperty(this=exp.Schema(expressions=[exp.to_identifier(by)]))
        )
    properties.append(exp.LocationProperty(this=exp.Literal.string(location)))
    if not columns:
        properties = [properties[0], properties[-1]]
    return exp.Create(
        this=exp.Schema(this=name, expressions=column_defs(ordered)) if columns else name,
        kind="TABLE",
        exists=True,
        properties=exp.Properties(expressions=properties),
    )


def _with_kept(held: DataFrame, frame: DataFrame) -> DataFrame:
    """``frame`` with the rows its files' partitions already hold for other records: a
    replay adds a file's replayed records to its partition, and writing a record again
    replaces its rows (the partition is overwritten with both)."""
    from pyspark.sql import functions as F

    files = [row[0] for row in frame.select(FILE_ID).distinct().collect()]
    present = held.where(F.col(FILE_ID).isin(files))
    if not present.limit(1).count():  # a file's first write: nothing to keep
        return frame
    keys = frame.select(F.col(FILE_ID).alias("_tg_f"), F.col(ROW).alias("_tg_r")).distinct()
    same = (present[FILE_ID] == keys["_tg_f"]) & (present[ROW] == keys["_tg_r"])
    kept = present.join(keys, same, "left_anti")
    return kept.unionByName(frame, allowMissingColumns=True)


def _first_line(exc: BaseException) -> str:
    """What py4j and Spark Connect say of an error, in one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _empty(session: SparkSession, data: pa.Table) -> DataFrame:
    """No rows, in the columns of ``data`` (Spark infers no types from no rows)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return session.createDataFrame([], from_arrow_schema(data.schema))
