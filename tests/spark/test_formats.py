"""Catalogs and table formats of a Spark warehouse, on the test session's Spark.

``catalog`` is the session's current catalog; ``table_format: delta | iceberg`` makes a
merge one ``MERGE INTO`` and ``UPDATE`` / ``DELETE`` changes in place. Delta Lake and
Iceberg are Maven packages that cannot be fetched here, so what runs is: a session without
the format is refused when connecting, naming what to configure, and every statement of the
row-level path is Spark SQL, read by Spark's own parser (the analysis needs the format).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlglot import exp

from tidegate.config import load_project
from tidegate.errors import ConnectionFailed
from tidegate.sql import col, table
from tidegate.warehouse import connect
from tidegate.warehouse.base import UPSERT_SOURCE, UPSERT_TARGET
from tidegate.warehouse.spark import SparkWarehouse, file_table
from tidegate.warehouse.spark_formats import merge_into, update_as_merge

from .conftest import warehouse_yaml

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def project(root: Path, *settings: str) -> Path:
    root.mkdir(parents=True)
    block = warehouse_yaml() + "".join(f"  {s}\n" for s in settings)
    (root / "tidegate.yml").write_text(block + "settle_seconds: 0\n")
    return root


def parsed(spark: SparkSession, sql: str) -> str:
    """The plan Spark's parser reads from ``sql`` (it raises on anything not Spark SQL)."""
    parser = spark._jsparkSession.sessionState().sqlParser()  # type: ignore[attr-defined]
    return str(parser.parsePlan(sql).toString())


def test_the_catalog_is_the_sessions_current_one(spark: SparkSession, tmp_path: Path) -> None:
    root = project(tmp_path / "p", "catalog: spark_catalog")
    with connect(load_project(root)):
        assert spark.catalog.currentCatalog() == "spark_catalog"


def test_a_catalog_the_session_lacks_is_refused_naming_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    root = project(tmp_path / "p", "catalog: lakehouse")
    with pytest.raises(ConnectionFailed) as caught, connect(load_project(root)):
        pass
    said = str(caught.value)
    assert "catalog 'lakehouse' is not configured on the session" in said
    assert "spark.sql.catalog.lakehouse" in said
    assert spark.catalog.currentCatalog() == "spark_catalog"


@pytest.mark.parametrize(("fmt", "package"), [("delta", "io.delta"), ("iceberg", "iceberg")])
def test_a_table_format_the_session_lacks_is_refused_before_any_file(
    spark: SparkSession, tmp_path: Path, fmt: str, package: str
) -> None:
    root = project(tmp_path / "p", f"table_format: {fmt}")
    (root / "landing").mkdir()
    (root / "landing" / "a.csv").write_text("id\n1\n")
    with pytest.raises(ConnectionFailed) as caught, connect(load_project(root)):
        pass
    said = str(caught.value)
    assert f"table_format: {fmt} needs {fmt} on the Spark session" in said
    assert package in said and "spark.jars.packages" in said
    assert (root / "landing" / "a.csv").exists()


def test_a_table_format_is_for_spark_only(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "tidegate.yml").write_text("warehouse: {type: duckdb, table_format: delta}\n")
    with (
        pytest.raises(Exception, match="table_format: not a setting of warehouse type 'duckdb'"),
        connect(load_project(root)),
    ):
        pass


def test_the_row_level_statements_are_spark_sql(spark: SparkSession, tmp_path: Path) -> None:
    wh = SparkWarehouse(
        load_project(project(tmp_path / "p", "table_format: delta")).config.warehouse, tmp_path
    )
    people, staged = table("people", "core"), table("_tg_latest")
    wh.keyed("people", "core", ["id"])
    changed = col("_row_hash", UPSERT_TARGET).neq(col("_row_hash", UPSERT_SOURCE))
    setting = {"name": col("name", UPSERT_SOURCE), "_row_hash": col("_row_hash", UPSERT_SOURCE)}
    bucket = wh.bucket(people, UPSERT_SOURCE)
    assert bucket is not None
    merge = merge_into(people, staged, ["id"], [(changed, setting)], ["id", "name", "_row_hash"],
                       ("_tg_bucket", bucket))  # fmt: skip
    update = exp.Update(
        this=people.copy(),
        expressions=[exp.EQ(this=col("_valid_to"), expression=col("_valid_from", "c"))],
        from_=exp.From(this=table("_tg_changed").as_("c")),
        where=exp.Where(this=col("id", "people").eq(col("id", "c"))),
    )
    delete = exp.delete(people.copy(), where=col("id").eq(exp.Literal.number(3)))
    create = file_table(people.copy(), [("id", exp.DataType.build("int"))], "/lake/p", fmt="delta")

    plans = {kind: parsed(spark, wh.render(s)) for kind, s in
             [("merge", merge), ("update", update_as_merge(update)), ("delete", delete),
              ("create", create)]}  # fmt: skip

    merged = wh.render(merge)
    assert merged.startswith("MERGE INTO `core`.`people` AS `_tg_t` USING `_tg_latest` AS `_tg_s`")
    assert "WHEN MATCHED AND `_tg_t`.`_row_hash` <> `_tg_s`.`_row_hash` THEN UPDATE SET" in merged
    assert "INSERT (`id`, `name`, `_row_hash`, `_tg_bucket`) VALUES" in merged
    assert "PMOD(XXHASH64(`_tg_s`.`id`), 4)" in merged
    assert "MergeIntoTable" in plans["merge"] and "MergeIntoTable" in plans["update"]
    assert "DeleteFromTable" in plans["delete"]
    assert "USING DELTA" in wh.render(create)
    updated = wh.render(update_as_merge(update))
    assert updated == (
        "MERGE INTO `core`.`people` AS `_tg_t` USING `_tg_changed` AS c"
        " ON `_tg_t`.`id` = `c`.`id` WHEN MATCHED THEN UPDATE SET `_valid_to` = `c`.`_valid_from`"
    )
