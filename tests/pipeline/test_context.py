"""One per-file context: built once by the run, stored with the ledger row, used by replay."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from tidegate import compute
from tidegate.config import load_project
from tidegate.discover.context import FileContext, name_groups, recorded
from tidegate.pipeline import run
from tidegate.replay import replay
from tidegate.sql import col, insert_values, table
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.ledger import FileRecord

from .conftest import land, people_csv, project_file, write_project

REGION_TARGET = """\
columns:
  id:       {type: integer, required: true}
  name:     {type: varchar, required: true}
  region:   {type: varchar}
  modified: {type: timestamp}
key: [id]
load: append
"""

REGION_SOURCE = """\
match: "people_*.csv"
name_pattern: 'people_(?P<region>[a-z]+)_(?P<day>\\d+)?'
outputs:
  - target: people
    columns:
      id: '"ID"'
      name: trim("Full Name")
      region: _file.region
      modified: _file.modified
"""

MTIME = datetime(2020, 1, 2, 3, 4, 5)


def region_project(root: Path, warehouse_line: str, extra: str = "") -> Path:
    return write_project(
        root,
        {
            "tidegate.yml": project_file(warehouse_line) + extra,
            "targets/people.yml": REGION_TARGET,
            "sources/people.yml": REGION_SOURCE,
        },
    )


def land_at(root: Path, name: str, text: str, when: datetime) -> None:
    path = land(root, name, text)
    stamp = when.replace(tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))


def select(root: Path, schema: str, name: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with connect(load_project(root)) as wh:
        query = exp.select(*[col(c) for c in columns]).from_(table(name, schema))
        return sorted(tuple(row) for row in wh.execute(query))


def test_replay_sees_the_name_groups_and_mtime_the_run_saw(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = region_project(tmp_path / "p", warehouse())
    land_at(root, "people_eu_.csv", people_csv(("1", "Ada", "a", "x"), ("2", "", "b", "y")), MTIME)
    [file] = run(load_project(root)).files
    assert (file.status, file.rows_loaded, file.rows_quarantined) == ("loaded", 1, 1)

    with connect(load_project(root)) as wh:
        [record] = ledger.list_files(wh)
    assert record.modified_at == MTIME
    assert record.context is not None
    stored = FileContext.from_json(record.context)
    assert stored.groups == {"region": "eu", "day": None}  # an unmatched group is there, NULL
    assert stored.loaded_at is not None

    relaxed = REGION_TARGET.replace(
        "name:     {type: varchar, required: true}", "name: {type: varchar}"
    )
    (root / "targets" / "people.yml").write_text(relaxed, encoding="utf-8")
    [done] = replay(load_project(root))
    assert (done.loaded, done.still_bad) == (1, 0)
    found = select(root, "core", "people", ["id", "region", "modified"])
    assert [(int(i), r, str(m)[:19]) for i, r, m in found] == [
        (1, "eu", "2020-01-02 03:04:05"),
        (2, "eu", "2020-01-02 03:04:05"),  # the file's mtime, not the ledger's start time
    ]


def test_replay_runs_on_the_projects_compute_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite warehouse has no engine of its own: replay opens one with memory_limit."""
    root = region_project(
        tmp_path / "p", "warehouse: {type: sqlite, path: warehouse.sqlite}", "memory_limit: 321MB\n"
    )
    land(root, "people_eu_1.csv", people_csv(("1", "", "a", "x")))
    run(load_project(root))
    limits: list[str] = []
    real = compute.connect

    def recording(path: Path, memory_limit: str = "3GB") -> Any:
        limits.append(memory_limit)
        return real(path, memory_limit)

    monkeypatch.setattr(compute, "connect", recording)
    replay(load_project(root))
    assert limits == ["321MB"]


OLD_COLUMNS = [f for f in ledger._columns(FileRecord) if f[0] not in ("modified_at", "context")]


def test_an_older_ledger_gains_the_context_columns_in_place(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = region_project(tmp_path / "p", warehouse())
    old = FileRecord(
        file_id="0123456789abcdef",
        run_id="r0",
        source="people",
        name="people_us_7.csv",
        path="day=1/people_us_7.csv",
        size=10,
        sha256="0123456789abcdef" * 4,
        status="loaded",
        started_at=datetime(2019, 5, 6, 7, 8, 9),
    )
    with connect(load_project(root)) as wh, wh.transaction():
        wh.ensure_schema(wh.schemas.meta)
        wh.ensure_table(ledger.FILES, wh.schemas.meta, OLD_COLUMNS, primary_key=["file_id"])
        names = [name for name, _ in OLD_COLUMNS]
        values = [getattr(old, name) for name in names]
        wh.execute(insert_values(table(ledger.FILES, wh.schemas.meta), names, [values]))

    land_at(root, "people_eu_2.csv", people_csv(("1", "Ada", "a", "x")), MTIME)
    [file] = run(load_project(root)).files
    assert file.status == "loaded"
    with connect(load_project(root)) as wh:
        columns = wh.columns_of(ledger.FILES, wh.schemas.meta)
        assert columns is not None and {"modified_at", "context"} <= set(columns)
        kept = ledger.get_file(wh, old.file_id)
    assert (kept.modified_at, kept.context) == (None, None)
    rebuilt = recorded(kept, load_project(root).sources["people"])
    assert (rebuilt.partitions, rebuilt.groups) == ({"day": "1"}, {"region": "us", "day": "7"})
    assert rebuilt.modified == old.started_at


def test_a_context_round_trips_through_json() -> None:
    context = FileContext(
        name="a.csv",
        path="x=1/a.csv",
        size=3,
        mtime=MTIME.replace(tzinfo=UTC).timestamp(),
        sha256="f" * 64,
        partitions={"x": "1"},
        groups={"g": None},
        format="csv",
        encoding="utf-8",
        dialect={"delimiter": ";"},
        renamed={"_file_id": "_file_id_2"},
        loaded_at=datetime(2021, 1, 1),
    )
    assert FileContext.from_json(context.to_json()) == context
    assert json.loads(context.to_json())["groups"] == {"g": None}
    assert context.modified == MTIME
    assert name_groups(r"(?P<a>\d+)-(?P<b>x)?", "no digits") == {"a": None, "b": None}
