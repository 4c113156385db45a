"""Spark as a warehouse: tables in a Spark catalog, reached through one SparkSession.

What is here: the session a project's ``warehouse:`` describes (``master`` or Spark Connect
``remote``, ``warehouse_dir``, ``conf``), statements rendered in Spark SQL, and Arrow
appended to tables. ``tidegate check`` uses it to prove the cluster is reachable; every
expression's Spark form is checked by ``tidegate.bind``.

What is not yet: loading files. Plain Spark tables have no multi-statement transactions,
so a file's commit must write its rows idempotently and record it in the transactional
``control`` store afterwards; until that path exists, a file's commit on Spark fails with
a one-line error instead of loading without tidegate's exactly-once guarantee.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from tidegate.config.models import WarehouseConfig
from tidegate.errors import ConnectionFailed, WarehouseError
from tidegate.sql import table
from tidegate.warehouse.base import Row, Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Settings a session gets unless the project's ``conf`` says otherwise: UTC, as DuckDB's
# ``_file.modified`` and every timestamp tidegate writes; partitions overwritten one by one.
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


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
    return session


class SparkWarehouse(Warehouse):
    NAME: ClassVar[str] = "spark"
    DIALECT: ClassVar[str] = "spark"
    SUPPORTS_TRANSACTIONS: ClassVar[bool] = False
    OWN_SETTINGS: ClassVar[tuple[str, ...]] = (
        "master",
        "remote",
        "warehouse_dir",
        "catalog",
        "control",
        "conf",
    )

    @classmethod
    def settings_problem(cls, config: WarehouseConfig) -> str | None:
        if config.master and config.remote:
            return "give either 'master' or 'remote' (Spark Connect), not both"
        return super().settings_problem(config)

    def __init__(self, config: WarehouseConfig, root: Path) -> None:
        super().__init__(config, root)
        self._session: SparkSession | None = None

    @property
    def description(self) -> str:
        where = self.config.remote or self.config.master or "local[2]"
        return f"spark warehouse ({where})"

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            raise WarehouseError("the Spark warehouse is not connected")
        return self._session

    def connect(self) -> None:
        try:
            self._session = build_session(self.config, self.root)
        except Exception as exc:  # py4j and Spark Connect raise their own trees
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectionFailed(self.description, f"cannot start Spark: {first}") from exc

    def close(self) -> None:
        # The session stays for the process: pyspark hands the same one to the next caller,
        # and stopping a shared SparkContext would end it for them too.
        self._session = None

    def _run(self, sql: str) -> list[Row]:
        try:
            return [tuple(row) for row in self.session.sql(sql).collect()]
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WarehouseError(f"Spark refused a statement: {first}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise WarehouseError(
            "loading into type: spark is not available yet: a file's rows and its ledger row"
            " cannot commit together on plain Spark tables (see docs/warehouses.md)"
        )
        yield  # pragma: no cover

    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        """Append the rows to an existing table by column name; the rows written."""
        data = batches.read_all()
        if data.num_rows == 0:
            return 0
        frame = self.session.createDataFrame(data)
        target = table(name, schema).sql(self.DIALECT)
        columns = self.session.table(target).columns
        frame.select(*columns).write.insertInto(target)
        return int(data.num_rows)
