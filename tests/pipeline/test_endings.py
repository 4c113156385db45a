"""How a file ends: every file of a run is recorded (loaded, rejected or failed, with its
reason), whatever it does, and the run goes on to the next."""

from __future__ import annotations

import csv
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from tidegate import pipeline
from tidegate.config import load_project
from tidegate.pipeline import FileResult, run
from tidegate.read import many
from tidegate.sql import col, table
from tidegate.warehouse import connect, ledger

from .conftest import PEOPLE_SOURCE, land, people_csv, project_file, write_project

evaluate_module = importlib.import_module("tidegate.transform.evaluate")

ADA = ("1", "Ada", "ada@example.org", "12/10/1815")
ALAN = ("2", "Alan", "alan@example.org", "06/23/1912")
GRACE = ("3", "Grace", "grace@example.org", "12/09/1906")


def new_project(
    root: Path, warehouse: Callable[[], str], files: dict[str, str] | None = None
) -> Path:
    return write_project(root, {"tidegate.yml": project_file(warehouse()), **(files or {})})


def by_name(files: list[FileResult]) -> dict[str, FileResult]:
    return {f.name: f for f in files}


def select(root: Path, schema: str, name: str, columns: list[str]) -> list[tuple[str, ...]]:
    with connect(load_project(root)) as wh:
        found = wh.execute(exp.select(*[col(c) for c in columns]).from_(table(name, schema)))
    return sorted(tuple(str(v) for v in row) for row in found)


# -- work objects -------------------------------------------------------------------------


@pytest.mark.parametrize("large_first", [True, False])
def test_large_and_small_files_load_in_one_run(
    tmp_path: Path,
    warehouse: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
    large_first: bool,
) -> None:
    """Outputs of a large file are views, of a small one tables; neither is left behind."""
    monkeypatch.setattr(evaluate_module, "STORED_ROWS", 2)
    root = new_project(tmp_path / "p", warehouse)
    large, small = ("people_1.csv", "people_2.csv")[:: 1 if large_first else -1]
    land(root, large, people_csv(ADA, ALAN, GRACE))
    land(root, small, people_csv(("4", "Edsger", "e@example.org", "05/11/1930")))
    files = by_name(run(load_project(root)).files)
    assert {n: (f.status, f.rows_loaded, f.error) for n, f in files.items()} == {
        large: ("loaded", 3, None),
        small: ("loaded", 1, None),
    }
    assert len(select(root, "core", "people", ["id"])) == 4


# -- data problems are terminal: quarantine or rejected/, never retried -------------------

KEYED_TARGET = """\
columns:
  id:   {{type: integer}}
  name: {{type: varchar}}
key: [id]
load: {load}
"""

KEYED_SOURCE = """\
match: "people*.csv"
outputs:
  - target: people
    columns:
      id: '"ID"'
      name: '"Full Name"'
"""


@pytest.mark.parametrize("load", ["merge", "scd2"])
def test_a_row_without_a_key_is_quarantined_with_a_key_reason(
    tmp_path: Path, warehouse: Callable[[], str], load: str
) -> None:
    files = {
        "targets/people.yml": KEYED_TARGET.format(load=load),
        "sources/people.yml": KEYED_SOURCE,
    }
    root = new_project(tmp_path / "p", warehouse, files)
    land(root, "people_1.csv", people_csv(ADA, ("", "Nobody", "n", "x"), ALAN))
    [file] = run(load_project(root)).files
    assert (file.status, file.rows_loaded, file.rows_quarantined) == ("loaded", 2, 1)
    assert not (root / "landing" / "people_1.csv").exists()
    [(row, reasons)] = select(root, "tidegate", "quarantine", ["row", "reasons"])
    assert row == "2"
    assert [(r["rule"], r["column"]) for r in json.loads(reasons)] == [("key", "id")]
    assert run(load_project(root)).files == []  # nothing left to retry


def test_columns_named_like_tidegates_own_are_renamed(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    source = PEOPLE_SOURCE.replace(
        "born: '\"Born\"'", "born: '\"Born\"'\n      name: '\"_file_id_2\"'"
    )
    source = source.replace('      name: trim("Full Name")\n', "")
    root = new_project(tmp_path / "p", warehouse, {"sources/people.yml": source})
    header = "ID,Full Name,E-mail,Born,_file_id,_LOADED_AT,_row\n"
    land(root, "people_1.csv", header + "1,Ada,ada@example.org,12/10/1815,exported-id,t,7\n")
    [file] = run(load_project(root)).files
    assert (file.status, file.rows_loaded, file.error) == ("loaded", 1, None)
    assert select(root, "core", "people", ["id", "name"]) == [("1", "exported-id")]
    assert select(root, "raw", "people", ["_file_id_2", "_LOADED_AT_2", "_row_2"]) == [
        ("exported-id", "t", "7")
    ]
    with connect(load_project(root)) as wh:
        [record] = ledger.list_files(wh)
    assert record.context is not None
    renamed = json.loads(record.context)["renamed"]
    assert renamed == {"_file_id": "_file_id_2", "_LOADED_AT": "_LOADED_AT_2"}


# -- one bad file never stops the run -----------------------------------------------------


def patch_reader(monkeypatch: pytest.MonkeyPatch, read: Callable[..., Any]) -> None:
    """The reader of both paths: a file alone, and a file of a batch (``read/many.py``)."""
    monkeypatch.setattr(pipeline, "read_file", read)
    monkeypatch.setattr(many, "read_file", read)


def hostile_reader(failures: dict[str, BaseException]) -> Callable[..., Any]:
    """The real reader, except that the named files raise what a broken reader might."""
    real = pipeline.read_file

    def read(con: Any, path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name in failures:
            raise failures[path.name]
        return real(con, path, *args, **kwargs)

    return read


def test_whatever_a_reader_raises_the_run_records_it_and_goes_on(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures: dict[str, BaseException] = {
        "people_2.csv": RecursionError("maximum recursion depth exceeded"),
        "people_3.csv": csv.Error("field larger than field limit (131072)"),
        "people_4.csv": KeyError("a bug of ours"),
    }
    patch_reader(monkeypatch, hostile_reader(failures))
    for index, person in enumerate((ADA, ALAN, GRACE, ADA, ALAN), start=1):
        land(
            project, f"people_{index}.csv", people_csv(person, (str(index * 10), "X", "x@y.z", ""))
        )
    files = by_name(run(load_project(project)).files)
    assert {n: f.status for n, f in files.items()} == {
        "people_1.csv": "loaded",
        "people_2.csv": "rejected",
        "people_3.csv": "rejected",
        "people_4.csv": "failed",
        "people_5.csv": "loaded",
    }
    assert files["people_2.csv"].error == (
        "the file nests values too deeply to read"
        " (RecursionError: maximum recursion depth exceeded)"
    )
    assert "field larger than field limit" in (files["people_3.csv"].error or "")
    assert files["people_4.csv"].error == "internal error: KeyError: 'a bug of ours'"
    reason = project / "rejected" / "people_3.csv.reason.txt"
    assert "cannot be read as CSV" in reason.read_text(encoding="utf-8")
    assert [p.name for p in (project / "landing").iterdir()] == ["people_4.csv"]
    [again] = run(load_project(project)).files  # the bug is still there: failed again, no crash
    assert (again.name, again.status) == ("people_4.csv", "failed")


def test_hostile_files_end_with_a_reason_and_the_good_ones_load(tmp_path: Path) -> None:
    """A field over Python's CSV limit and JSON nested 10,000 deep, beside good files."""
    deep = {
        "sources/deep.yml": 'match: "deep*.json"\noutputs:\n  - target: people\n'
        "    columns:\n      id: id\n      name: \"'deep'\"\n"
    }
    root = write_project(tmp_path / "p", deep)
    land(root, "people_1.csv", people_csv(ADA))
    land(root, "people_2.csv", people_csv(("2", "A" * 200_000, "a@b.c", "")))
    land(root, "deep_3.json", '{"id": 3, "x": ' + "[" * 10_000 + "]" * 10_000 + "}\n")
    land(root, "people_4.csv", people_csv(GRACE))
    files = by_name(run(load_project(root)).files)
    assert files["people_1.csv"].status == files["people_4.csv"].status == "loaded"
    for name in ("people_2.csv", "deep_3.json"):
        assert files[name].status in ("loaded", "rejected"), files[name]
        assert "internal error" not in (files[name].error or "")


def test_a_file_deleted_while_it_is_read_is_recorded_and_the_next_one_loads(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.read_file

    def read(con: Any, path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name == "people_1.csv":
            path.unlink()  # someone cleans landing up at the wrong moment
        return real(con, path, *args, **kwargs)

    patch_reader(monkeypatch, read)
    land(project, "people_1.csv", people_csv(ADA))
    land(project, "people_2.csv", people_csv(ALAN))
    files = by_name(run(load_project(project)).files)
    gone = files["people_1.csv"]
    assert gone.status == "rejected"
    assert (gone.error or "").endswith(pipeline.GONE)
    assert not (project / "rejected").exists()
    assert files["people_2.csv"].status == "loaded"
    with connect(load_project(project)) as wh:
        rejected = [f for f in ledger.list_files(wh) if f.status == "rejected"]
    assert [f.archive_path for f in rejected] == [None]


# -- engine errors name the YAML file and line of the expression --------------------------


def test_a_value_that_breaks_an_expression_rejects_the_file_naming_the_expression(
    project: Path,
) -> None:
    source = PEOPLE_SOURCE.replace("""id: '"ID"'""", """id: 'CAST("ID" AS INTEGER)'""")
    (project / "sources" / "people.yml").write_text(source, encoding="utf-8")
    land(project, "people_1.csv", people_csv(ADA))
    land(project, "people_2.csv", people_csv(("x1", "Ada", "a@b.c", "")))
    files = by_name(run(load_project(project)).files)
    assert files["people_1.csv"].status == "loaded"
    bad = files["people_2.csv"]
    assert bad.status == "rejected"
    assert bad.error is not None
    assert bad.error.startswith("Conversion Error: Could not convert string 'x1'")
    assert bad.error.endswith(
        """in outputs[0].columns.id `CAST("ID" AS INTEGER)` (sources/people.yml:5);"""
        " fix the file or the expression"
    )


def test_an_expression_the_engine_cannot_bind_fails_the_file_and_keeps_it(
    project: Path,
) -> None:
    source = PEOPLE_SOURCE.replace(
        """email: lower("E-mail")""", """email: no_such_function("E-mail")"""
    )
    (project / "sources" / "people.yml").write_text(source, encoding="utf-8")
    land(project, "people_1.csv", people_csv(ADA))
    [file] = run(load_project(project)).files
    assert file.status == "failed"
    assert file.error is not None
    assert "internal error" not in file.error
    where = f"{project / 'sources' / 'people.yml'}:7: outputs[0].columns.email:"
    assert file.error.startswith(f'{where} `no_such_function("E-mail")` cannot run:')
    assert "no_such_function" in file.error.split("cannot run:")[1]
    assert (project / "landing" / "people_1.csv").exists()  # fix the source, and it loads


def test_a_file_too_large_for_the_memory_limit_fails_and_stays_for_the_next_run(
    project: Path,
) -> None:
    """Out of memory says nothing of the file: it is never rejected for it, nothing of it
    is kept, the reason names the memory limit (not a later statement the aborted
    transaction refused), and a larger limit loads it."""
    people = [(str(n), f"Person {n}", f"p{n}@example.org", "01/02/1990") for n in range(300_000)]
    land(project, "people_1.csv", people_csv(*people))
    settings = project / "tidegate.yml"
    settings.write_text(settings.read_text() + "memory_limit: 4MB\n", encoding="utf-8")
    [file] = run(load_project(project)).files
    assert file.status == "failed", file
    assert file.error is not None
    assert "ran out of memory (memory_limit 4MB and 256 KB for each of" in file.error, file.error
    assert "transaction is aborted" not in file.error.lower(), file.error
    assert (project / "landing" / "people_1.csv").exists()
    assert not (project / "rejected").exists() or not any((project / "rejected").iterdir())
    settings.write_text(settings.read_text().replace("4MB", "1GB"), encoding="utf-8")
    [again] = run(load_project(project)).files
    assert (again.status, again.rows_loaded) == ("loaded", 300_000), again
    assert len(select(project, "raw", "people", ["_row"])) == 300_000
