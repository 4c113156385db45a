"""The five example projects on Spark give the target tables they give on DuckDB.

Each example is copied twice; one copy keeps its DuckDB warehouse, the other's
``warehouse:`` becomes Spark (local, a DuckDB control store). Both run once, and every
target table is compared row by row: business columns, lineage (file id and row), row
hash, and the history flags, current versions included. What the clock sets (the load
time, and so the validity times of a ``run_time`` history) and Spark's key bucket are left
out. So are the ledgers' statuses and counts, compared file by file.

Spark runs a file as some tens of jobs, and the suite's time is short: example 004 runs
its first hour (customers, products, transactions) and an erasure request, not all of
its 968 files, and example 001 the first rows of its file (``tests/spark/test_transpile.py``
compares every mapping and rule on every row).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.scaffold import example, example_names
from tidegate.warehouse.batch import history_names

from .conftest import warehouse_yaml, with_warehouse
from .test_transpile import plain

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Example 004's files that run here: its first three hours and an erasure request.
SHOP = ("date=2020-01-01/hour=00",)
TITLES = 600  # example 001's first records
ERASURE = "date=2020-01-22/hour=00/erasure-requests.json"
LEFT_OUT = {"_loaded_at", "_tg_bucket"}


def copy(name: str, root: Path, spark: bool) -> Path:
    example(root, name=name)
    config = root / "tidegate.yml"
    text = config.read_text().replace("settle_seconds: 1", "settle_seconds: 0")
    if spark:
        text = with_warehouse(text, warehouse_yaml())
    config.write_text(text)
    if name.startswith("004"):
        landing = root / "landing"
        kept = [landing / part for part in SHOP] + [landing / ERASURE]
        held = root / "held"
        for path in kept:
            (held / path.relative_to(landing)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, held / path.relative_to(landing))
        shutil.rmtree(landing)
        held.rename(landing)
    if name.startswith("001"):
        for path in (root / "landing").glob("*.csv"):
            with path.open(newline="") as lines:
                head = [line for _, line in zip(range(TITLES + 1), lines, strict=False)]
            path.write_text("".join(head), newline="")
    return root


def _forget(spark: SparkSession) -> None:
    """The catalog forgets the examples' schemas (their files stay in each project's lake):
    two examples name the same tables."""
    for schema in ("core", "raw", "marts"):
        spark.sql(f"DROP SCHEMA IF EXISTS `{schema}` CASCADE")


def _ledger(con: Any) -> list[tuple[Any, ...]]:
    return sorted(
        con.execute(
            "SELECT name, status, rows_read, rows_loaded, rows_quarantined FROM tidegate.files"
        ).fetchall()
    )


def _table(names: list[str], rows: list[Any]) -> list[dict[str, Any]]:
    out = [dict(zip(names, (plain(v) for v in row), strict=True)) for row in rows]
    return sorted(out, key=repr)


@pytest.mark.parametrize("name", example_names())
def test_an_example_on_spark_gives_its_tables_on_duckdb(
    spark: SparkSession,
    tmp_path: Path,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIDEGATE_SECRET", "examples-on-spark-secret-0123456789")
    monkeypatch.setenv("TIDEGATE_VAULT_KEY", "examples-on-spark-vault-key-0123456789")
    on_duckdb = copy(name, tmp_path / "duckdb", spark=False)
    on_spark = copy(name, tmp_path / "spark", spark=True)
    for folder in ("duckdb", "spark"):  # the same files, the same times
        for path in (tmp_path / folder / "landing").rglob("*"):
            os.utime(path, (1_600_000_000, 1_600_000_000))
    project = load_project(on_duckdb)
    assert run(project).files
    _forget(spark)
    try:
        assert run(load_project(on_spark)).files
        # Statements Spark refused and tidegate handled (a list's length) are not logged.
        assert "QueryContextLogger" not in capfd.readouterr().err
        with duckdb.connect(str(on_duckdb / "warehouse.duckdb"), read_only=True) as con:
            expected_ledger = _ledger(con)
            tables = {}
            for target_name, target in project.targets.items():
                if target.load == "erase":
                    continue
                h = history_names(target)
                timed = {h.valid_from, h.valid_to} if target.load == "scd2" else set()
                found = con.execute(f'SELECT * FROM core."{target_name}" LIMIT 0').description
                names = [d[0] for d in found if d[0] not in LEFT_OUT | timed]
                listed = ", ".join(f'"{n}"' for n in names)
                rows = con.execute(f'SELECT {listed} FROM core."{target_name}"').fetchall()
                tables[target_name] = (names, _table(names, rows))
        with duckdb.connect(str(on_spark / "control.duckdb"), read_only=True) as con:
            assert _ledger(con) == expected_ledger
        assert tables
        for target_name, (names, expected) in tables.items():
            listed = ", ".join(f"`{n}`" for n in names)
            rows = spark.sql(f"SELECT {listed} FROM core.`{target_name}`").collect()
            assert _table(names, [tuple(r) for r in rows]) == expected, target_name
    finally:
        _forget(spark)
