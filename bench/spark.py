"""Spark in the benchmark: tidegate's ``type: spark`` on local[1] and local[2], beside DuckDB.

What the Spark cases show is whether the work parallelises (the time at two cores against
one) and what a file costs on Spark, not a race with DuckDB on one machine: a Spark run
starts a JVM and plans every statement, which DuckDB does not. The floor is Spark's own
``spark.read.csv(...).write.parquet(...)`` of the same file with the same cores.

A warehouse here is ``spark-N``: a local master with N cores, tables in the run's own
``spark-warehouse`` folder, the ledger in a DuckDB control file beside them.
"""

from __future__ import annotations

import importlib.util
import shutil

from bench.job import Job

WAREHOUSES = ("spark-1", "spark-2")


def cores(warehouse: str) -> int:
    """``spark-2`` -> 2."""
    return int(warehouse.removeprefix("spark-"))


def is_spark(warehouse: str) -> bool:
    return warehouse in WAREHOUSES


def warehouse_setting(warehouse: str) -> str:
    """The ``warehouse:`` value of tidegate.yml for ``spark-N``: as many shuffle partitions
    as cores (Spark's default of 200 is for clusters), no UI."""
    n = cores(warehouse)
    return (
        f"{{type: spark, master: 'local[{n}]', warehouse_dir: spark-warehouse,"
        " control: control.duckdb,"
        f" conf: {{spark.ui.enabled: false, spark.sql.shuffle.partitions: {n}}}}}"
    )


def missing() -> str | None:
    """Why Spark cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'tidegate[spark]')"
    if shutil.which("java") is None:
        return "java is not on PATH"
    return None


def spark_floor(job: Job) -> int:
    """Spark's least: read the CSV with a header and inferred types, write it as Parquet."""
    from pyspark.sql import SparkSession

    n = cores(job.warehouse)
    session = (
        SparkSession.builder.master(f"local[{n}]")
        .appName("bench-floor")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(n))
        .config("spark.sql.warehouse.dir", str(job.workdir / "spark-warehouse"))
        .getOrCreate()
    )
    try:
        frame = session.read.csv(str(job.files[0]), header=True, inferSchema=True)
        out = job.workdir / "spark-warehouse" / f"t_{job.step}"
        frame.write.mode("overwrite").parquet(str(out))
        return int(session.read.parquet(str(out)).count())
    finally:
        session.stop()
