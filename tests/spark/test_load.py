"""Loading on Spark: exactly once without transactions.

A small append project is run on the test session's Spark: its rows go to a Parquet table
partitioned by ``_file_id``, its ledger, runs and quarantine to the DuckDB control store.
A run killed after a file's rows were written and before its ledger row committed is
repaired by the next run, which overwrites that file's partition: the table ends exactly as
one clean run leaves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tidegate.config import load_project
from tidegate.pipeline import run

from .conftest import spark_env, warehouse_yaml

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TARGET = """\
columns:
  id: {type: integer, required: true}
  name: {type: varchar}
load: append
"""
SOURCE = """\
match: "events*.csv"
outputs:
  - target: events
    columns:
      id: id
      name: upper(name)
"""
FILES = {
    "events_1.csv": "id,name\n1,ann\n2,bob\nx,bad\n",
    "events_2.csv": "id,name\n3,cy\n4,dee\n5,eve\n",
}
# A merge target: partitioned by a bucket of its key.
MERGED = {
    "targets": ("people", "columns:\n  id: {type: integer}\nkey: [id]\nload: merge\n"),
    "sources": (
        "people",
        'match: "people*.csv"\noutputs:\n  - target: people\n    columns: {id: id}\n',
    ),
}


def project(root: Path, merged: bool = False) -> str:
    """The project; its core schema is its own, as the test session's catalog is shared."""
    core = f"core_{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    (root / "tidegate.yml").write_text(warehouse_yaml(core=core) + "settle_seconds: 0\n")
    for folder, name, text in (("targets", "events", TARGET), ("sources", "events", SOURCE)):
        (root / folder).mkdir()
        (root / folder / f"{name}.yml").write_text(text)
    if merged:
        for folder, (name, text) in MERGED.items():
            (root / folder / f"{name}.yml").write_text(text)
    (root / "landing").mkdir()
    for name, text in FILES.items():
        (root / "landing" / name).write_text(text)
    if merged:
        (root / "landing" / "people_1.csv").write_text("id\n1\n")
    return core


def ledger(root: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "control.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT name, status, rows_read, rows_loaded, rows_quarantined"
            " FROM tidegate.files ORDER BY name, started_at"
        ).fetchall()


def quarantined(root: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "control.duckdb"), read_only=True) as con:
        return con.execute("SELECT row, target FROM tidegate.quarantine").fetchall()


def rows(spark: SparkSession, core: str) -> list[tuple[object, ...]]:
    found = spark.sql(f"SELECT id, name FROM {core}.events ORDER BY id").collect()
    return [tuple(r) for r in found]


LOADED = [
    ("events_1.csv", "loaded", 3, 2, 1),
    ("events_2.csv", "loaded", 3, 3, 0),
]
TABLE = [(1, "ANN"), (2, "BOB"), (3, "CY"), (4, "DEE"), (5, "EVE")]


def test_a_run_on_spark_loads_each_file_once(spark: SparkSession, tmp_path: Path) -> None:
    root = tmp_path / "events"
    core = project(root, merged=True)
    first = run(load_project(root))
    assert [(f.name, f.status) for f in first.files] == [
        ("events_1.csv", "loaded"),
        ("events_2.csv", "loaded"),
        ("people_1.csv", "loaded"),
    ]
    assert [tuple(r) for r in spark.sql(f"SELECT id FROM {core}.people").collect()] == [(1,)]
    assert list((root / "lake" / core / "people").glob("_tg_bucket=*"))
    assert rows(spark, core) == TABLE
    assert ledger(root)[:2] == LOADED
    assert quarantined(root) == [(3, "events")]
    (root / "landing" / "events_1_again.csv").write_text(FILES["events_1.csv"])
    again = run(load_project(root))
    assert [(f.name, f.status) for f in again.files] == [("events_1_again.csv", "duplicate")]
    assert rows(spark, core) == TABLE


def test_a_run_killed_between_the_rows_and_the_ledger_row_is_repaired(
    spark: SparkSession, tmp_path: Path
) -> None:
    root = tmp_path / "events"
    core = project(root)
    # The second file's rows are written, then the process dies inside the control store's
    # transaction, before its ledger row commits.
    killed = subprocess.run(
        [sys.executable, "-m", "tidegate.cli", "run", "--project", str(root)],
        env={**spark_env(), "TIDEGATE_FAULT": "commit:2", "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert ledger(root) == LOADED[:1]
    second = list((root / "lake" / core / "events").glob("_file_id=*"))
    assert len(second) == 2  # both files' rows were written; only the first was recorded
    result = run(load_project(root))
    assert [(f.name, f.status) for f in result.files] == [("events_2.csv", "loaded")]
    assert rows(spark, core) == TABLE
    assert ledger(root) == LOADED


PEOPLE = """\
columns:
  id: {type: integer, required: true}
  name: {type: varchar}
key: [id]
load: scd2
history: {effective: 'name:people_(\\d{8})'}
"""
PEOPLE_SOURCE = """\
match: "people_*.csv"
outputs:
  - target: people
    columns: {id: id, name: name}
"""
PEOPLE_FILES = {
    "people_20240101.csv": "id,name\n1,ann\n2,bob\n3,cy\n",
    "people_20240201.csv": "id,name\n2,bobby\n3,cy\n4,dee\n",  # a change, the same, a new key
}


def people(root: Path) -> str:
    """An scd2 project; each file is landed by ``land``."""
    core = project(root)
    (root / "targets" / "events.yml").unlink()
    (root / "sources" / "events.yml").unlink()
    for name in FILES:
        (root / "landing" / name).unlink()
    (root / "targets" / "people.yml").write_text(PEOPLE)
    (root / "sources" / "people.yml").write_text(PEOPLE_SOURCE)
    return core


def land(root: Path, name: str) -> None:
    (root / "landing" / name).write_text(PEOPLE_FILES[name])


def versions(spark: SparkSession, core: str) -> list[tuple[object, ...]]:
    found = spark.sql(
        f"SELECT id, name, _valid_from, _valid_to, _is_current, _file_id FROM {core}.people"
    ).collect()
    return sorted(tuple(r) for r in found)


def test_a_history_load_killed_between_its_rewrites_is_completed_by_the_rerun(
    spark: SparkSession, tmp_path: Path
) -> None:
    """An scd2 load on Spark is several rewrites of the key buckets, each committed on
    its own. Killed after the first one (a new key's version added, a changed key's
    version closed, its successor not yet added), the rerun applies the file again: the
    table and the ledger end as one clean run leaves them."""
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    clean_core, cut_core = people(clean), people(cut)
    for name in PEOPLE_FILES:
        land(clean, name)
        run(load_project(clean))
    for name in list(PEOPLE_FILES)[:1]:
        land(cut, name)
        run(load_project(cut))
    for name in list(PEOPLE_FILES)[1:]:
        land(cut, name)
        killed = subprocess.run(
            [sys.executable, "-m", "tidegate.cli", "run", "--project", str(cut)],
            env={
                **spark_env(),
                "TIDEGATE_FAULT": "spark.rewritten:1",
                "PYTHONPATH": os.pathsep.join(sys.path),
            },
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert killed.returncode == -9, killed.stderr[-2000:]
        again = run(load_project(cut))
        assert [(f.name, f.status) for f in again.files] == [(name, "loaded")]
    spark.catalog.refreshTable(f"{cut_core}.people")  # written by other processes too
    assert versions(spark, cut_core) == versions(spark, clean_core)
    assert ledger(cut) == ledger(clean)
    assert len(versions(spark, clean_core)) == 5
