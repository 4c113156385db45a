"""The Spark engine reads, maps and checks the examples' files as the DuckDB engine does.

Each file is read by the read room through each engine (Spark's own CSV, text and Parquet
readers on Spark), then mapped and checked by ``evaluate`` with the plan rendered in the
engine's dialect; the good rows of every output, the quarantined rows and their reasons,
and the bad records are compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlglot import exp

from tidegate.compute import Engine, local
from tidegate.compute.reserved import rename_reserved
from tidegate.compute.spark import SparkEngine
from tidegate.config import load_project
from tidegate.discover.context import FileContext
from tidegate.discover.landing import scan
from tidegate.discover.routing import route
from tidegate.read import read_file
from tidegate.scaffold import example
from tidegate.sql import table
from tidegate.store import LocalStore
from tidegate.transform.evaluate import BAD, drop_work, evaluate, set_file_values
from tidegate.transform.mapping import ROW

from .test_transpile import KEYS, _peek, plain

# Each Spark statement is a job of its own and the suite's time is short: the file of
# example 000 whose reading and mapping differ most from DuckDB's defaults (quoted line
# breaks, empty fields, a derived list indexed from 1 and measured with len, a struct of
# regexp groups is in its sibling source's file, compared by test_transpile.py).
FILES = {"000-prospective-leads": ("TechnicalExerciseDataSource2.csv",)}

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _rows(con: Engine, name: str) -> list[dict[str, Any]]:
    data = con.fetch_arrow(exp.select(exp.Star()).from_(table(name)))
    rows = [{k: plain(v) for k, v in r.items()} for r in data.to_pylist()]
    return sorted(rows, key=lambda r: repr(sorted(r.items())))


def outcome(con: Engine, root: Path) -> list[tuple[str, Any]]:
    """What each engine makes of the first files of every source of a project."""
    project = load_project(root)
    found: list[tuple[str, Any]] = []
    for file in scan(LocalStore(project.path("landing")), 0):
        if file.name not in FILES[root.name]:
            continue
        name = route(file, project.sources, _peek)
        source = project.sources[name]
        read = read_file(con, file.path, source.read, source.format)
        read, _ = rename_reserved(con, read)
        found.append((f"{file.relative} read", (read.rows, [(b.row, b.reason) for b in read.bad])))
        set_file_values(con, FileContext.of(file, source).values())
        done = evaluate(con, read.table, source, project.targets, records=read.rows)
        found.append((f"{file.relative} counts", (done.rows_quarantined, done.rows_duplicate)))
        for output, good in done.outputs:
            found.append((f"{file.relative} -> {output.target}", _rows(con, good)))
        bad = exp.select(exp.column(ROW), exp.column("target")).from_(table(BAD))
        found.append((f"{file.relative} bad", sorted(con.execute(bad))))
        drop_work(con)
    return found


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_spark_engine_reads_maps_and_checks_as_duckdb(
    spark: SparkSession, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / name
    example(root, name=name)
    duck = local()
    try:
        expected = outcome(duck, root)
    finally:
        duck.close()
    engine = SparkEngine(spark)
    try:
        got = outcome(engine, root)
    finally:
        engine.close()
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, theirs), (_, ours) in zip(got, expected, strict=True):
        assert theirs == ours, label
