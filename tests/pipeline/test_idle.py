"""A run after one that found nothing: done at once only when nothing can have changed.

One body on every warehouse: whatever the warehouse, a run after an empty run still
marks a dead run as interrupted, makes the table of a new target and loads a new file.
On DuckDB the empty run in between is the quick one; elsewhere every run is a whole one.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import tidegate
from tidegate import idle
from tidegate.clock import utcnow
from tidegate.config import load_project
from tidegate.warehouse import connect, ledger

from .conftest import land, people_csv, project_file, write_project

OTHER_TARGET = "columns:\n  code: {type: varchar}\nload: append\n"
OTHER_SOURCE = 'match: "other*.csv"\noutputs:\n  - target: other\n    columns:\n      code: code\n'


def _quick(root: Path) -> bool:
    """Whether a run now would be told at once, without the warehouse."""
    return idle.nothing_to_do(load_project(root)) is not None


def _dead_run(root: Path) -> str:
    """A run row left ``running`` by a process that died (its lock went with it)."""
    run_id = uuid.uuid4().hex
    with connect(load_project(root)) as wh:
        ledger.start_run(wh, ledger.RunRecord(run_id, utcnow(), version="0"))
    return run_id


def test_a_run_after_an_empty_run_still_does_a_runs_work(
    warehouse: Callable[[], str], tmp_path: Path
) -> None:
    line = warehouse()
    root = write_project(tmp_path, {"tidegate.yml": project_file(line)})
    quick = "duckdb" in line
    assert tidegate.run(root).files == []  # a whole run: makes the tables, remembers
    assert _quick(root) is quick
    assert tidegate.run(root).files == []

    dead = _dead_run(root)
    assert not _quick(root)
    assert tidegate.run(root).files == []
    with connect(load_project(root)) as wh:
        runs = {r.run_id: r.status for r in ledger.list_runs(wh, 50)}
    assert runs[dead] == "interrupted"

    (root / "targets" / "other.yml").write_text(OTHER_TARGET, encoding="utf-8")
    (root / "sources" / "other.yml").write_text(OTHER_SOURCE, encoding="utf-8")
    assert not _quick(root)
    assert tidegate.run(root).files == []
    with connect(load_project(root)) as wh:
        assert wh.columns_of("other", wh.schemas.core) is not None

    land(root, "people_1.csv", people_csv(("1", "Ann", "ann@x.org", "01/02/1990")))
    loaded = tidegate.run(root).files
    assert [(f.name, f.status, f.rows_loaded) for f in loaded] == [("people_1.csv", "loaded", 1)]
    assert not _quick(root)  # the load changed the warehouse
    assert tidegate.run(root).files == []
    assert _quick(root) is quick


def test_only_a_warehouse_in_a_file_here_and_no_clock_or_network_is_told_at_once(
    tmp_path: Path,
) -> None:
    duckdb = write_project(tmp_path / "duckdb")
    assert idle.eligible(load_project(duckdb))
    others = {
        "sqlite": "warehouse: {type: sqlite, path: warehouse.sqlite}\nsettle_seconds: 0\n",
        "memory": "warehouse: {type: duckdb, path: ':memory:'}\nsettle_seconds: 0\n",
        "notify": "settle_seconds: 0\nnotify:\n  - webhook: http://127.0.0.1:9/hook\n",
        "bucket": "settle_seconds: 0\nlanding: s3://bucket/landing\n",
    }
    for name, text in others.items():
        root = write_project(tmp_path / name, {"tidegate.yml": text})
        assert not idle.eligible(load_project(root)), name


def test_any_file_in_landing_keeps_the_run_whole(tmp_path: Path) -> None:
    """Even one still being written (a whole run waits for it to settle)."""
    root = write_project(tmp_path)
    assert tidegate.run(root).files == []
    assert _quick(root)
    land(root, "nested/people_1.part", "ID")
    assert not _quick(root)


def _told_unloaded(root: Path) -> bool:
    """Whether a run now would be told without even loading the project."""
    return idle.unloaded_landing(root.resolve()) is not None


def test_a_run_is_told_without_loading_only_while_the_projects_files_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEGATE_TEST_SETTLE", "0")
    text = "warehouse: {type: duckdb, path: warehouse.duckdb}\n"
    text += "settle_seconds: ${TIDEGATE_TEST_SETTLE}\n"
    root = write_project(tmp_path / "p", {"tidegate.yml": text})
    assert tidegate.run(root).files == []  # a whole run: remembers
    assert _told_unloaded(root)

    (root / "tidegate.yml").write_text(text + "# the same configuration\n", encoding="utf-8")
    assert not _told_unloaded(root)
    assert _quick(root)  # loaded, it is the same: told at once, and its files kept
    assert _told_unloaded(root)

    monkeypatch.setenv("TIDEGATE_TEST_SETTLE", "1")  # a variable the files name
    assert not _told_unloaded(root)
    monkeypatch.setenv("TIDEGATE_TEST_SETTLE", "0")
    monkeypatch.setenv("TIDEGATE_TEST_OTHER", "1")  # one they do not
    assert _told_unloaded(root)

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # its record names the folders of the original
    assert not _told_unloaded(copy)

    (root / "models").mkdir()
    (root / "models" / "people_count.sql").write_text("select 1", encoding="utf-8")
    assert not _told_unloaded(root)
    (root / "models" / "people_count.sql").unlink()
    assert _told_unloaded(root)

    _dead_run(root)  # the warehouse changed
    assert not _told_unloaded(root)
    assert tidegate.run(root).files == []
    assert _told_unloaded(root)
    land(root, "people_1.csv", people_csv(("1", "Ann", "ann@x.org", "01/02/1990")))
    assert not _told_unloaded(root)
