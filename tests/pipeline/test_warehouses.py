"""The same runs on every warehouse that can run here: DuckDB, PostgreSQL, SQLite."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlglot import exp

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.scaffold import example
from tidegate.sql import col, table
from tidegate.warehouse import connect

from .conftest import land, people_csv, project_file, snapshot, tidegate, write_project

ADA = ("1", "Ada", "ada@example.org", "12/10/1815")
ALAN = ("2", "Alan", "alan@example.org", "06/23/1912")
GRACE = ("3", "Grace", "grace@example.org", "12/09/1906")
BAD = ("9", "", "bad", "x")


def new_project(root: Path, warehouse: Callable[[], str]) -> Path:
    return write_project(root, {"tidegate.yml": project_file(warehouse())})


def rows(root: Path, schema: str, name: str, columns: list[str]) -> list[tuple[str, ...]]:
    with connect(load_project(root)) as wh:
        found = wh.execute(exp.select(*[col(c) for c in columns]).from_(table(name, schema)))
    return sorted(tuple(str(v) for v in row) for row in found)


def test_load_quarantine_duplicate_and_rerun(tmp_path: Path, warehouse: Callable[[], str]) -> None:
    root = new_project(tmp_path / "p", warehouse)
    land(root, "people_1.csv", people_csv(ADA, ALAN, BAD))
    [file] = run(load_project(root)).files
    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        3,
        2,
        1,
    )
    assert rows(root, "core", "people", ["id", "name", "born"]) == [
        ("1", "Ada", "1815-12-10"),
        ("2", "Alan", "1912-06-23"),
    ]
    before = snapshot(root)
    assert run(load_project(root)).files == []
    land(root, "people_copy.csv", people_csv(ADA, ALAN, BAD))
    assert [f.status for f in run(load_project(root)).files] == ["duplicate"]
    after = snapshot(root)
    assert after["core.people"] == before["core.people"]
    assert after["tidegate.quarantine"] == before["tidegate.quarantine"]


@pytest.mark.parametrize("fault", ["read:2", "commit:1", "commit:3", "committed:2", "archived:2"])
def test_a_killed_run_and_a_rerun_equal_one_clean_run(
    tmp_path: Path, warehouse: Callable[[], str], fault: str
) -> None:
    def prepared(name: str) -> Path:
        root = new_project(tmp_path / name, warehouse)
        with (root / "tidegate.yml").open("a") as settings:
            settings.write("batch_files: 1\n")  # file by file (test_batches.py: a batch)
        land(root, "people_1.csv", people_csv(ADA))
        land(root, "people_2.csv", people_csv(ALAN, BAD))
        land(root, "more/people_3.csv", people_csv(GRACE))
        land(root, "people_copy.csv", people_csv(ADA))
        return root

    clean = prepared("clean")
    assert tidegate(clean, "run").returncode == 0
    crashed = prepared("crashed")
    killed = tidegate(crashed, "run", env={"TIDEGATE_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    rerun = tidegate(crashed, "run")
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(crashed) == snapshot(clean)


def test_two_runs_at_once_load_each_file_exactly_once(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(tmp_path / "p", warehouse)
    for n in range(24):
        land(root, f"people_{n:02}.csv", people_csv((str(n), f"P{n}", f"p{n}@x.org", "01/01/2000")))
    command = [sys.executable, "-m", "tidegate.cli", "run", "--json", "--project", str(root)]
    both = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err for _, err in outcomes]
    ledger = rows(root, "tidegate", "files", ["path", "status"])
    assert sorted(path for path, status in ledger if status == "loaded") == [
        f"people_{n:02}.csv" for n in range(24)
    ]
    assert rows(root, "core", "people", ["id"]) == sorted((str(n),) for n in range(24))
    assert list((root / "landing").glob("*.csv")) == []


LEADS_COLUMNS = [
    "phone",
    "address1",
    "company",
    "city",
    "zip",
    "license_issued",
    "min_age",
    "_is_current",
    "_valid_to",
]


def test_example_000_gives_the_same_tables_on_every_warehouse(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    def loaded(name: str, warehouse_line: str) -> Path:
        root = tmp_path / name
        example(root, name="000")
        config = (root / "tidegate.yml").read_text()
        config = config.replace("settle_seconds: 1", "settle_seconds: 0")
        config = config.replace(
            "warehouse:\n  type: duckdb\n  path: warehouse.duckdb", warehouse_line
        )
        (root / "tidegate.yml").write_text(config)
        assert all(f.status == "loaded" for f in run(load_project(root)).files)
        return root

    reference = loaded("duckdb", "warehouse: {type: duckdb, path: warehouse.duckdb}")
    other = loaded("other", warehouse())
    expected = rows(reference, "core", "prospective_orgs", LEADS_COLUMNS)
    assert len(expected) == 127
    assert rows(other, "core", "prospective_orgs", LEADS_COLUMNS) == expected
    ledger = ["name", "status", "rows_read", "rows_loaded", "rows_quarantined", "sha256"]
    assert rows(other, "tidegate", "files", ledger) == rows(reference, "tidegate", "files", ledger)


def test_a_refused_connection_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://loader:s3cret-pw@127.0.0.1:{port}/dwh"
    root = write_project(
        tmp_path / "p",
        {"tidegate.yml": project_file(f'warehouse: {{type: postgres, url: "{url}"}}')},
    )
    land(root, "people_1.csv", people_csv(ADA))
    done = tidegate(root, "run")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert all(part in lines[0] for part in ("127.0.0.1", str(port), "dwh", "loader"))
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert (root / "landing" / "people_1.csv").exists()


def test_a_forced_reconciliation_mismatch_rolls_back_and_reports(
    tmp_path: Path, warehouse: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tidegate.deliver

    root = new_project(tmp_path / "p", warehouse)
    land(root, "people_1.csv", people_csv(ADA, ALAN))
    real = tidegate.deliver.rows_of_file
    # A test double of the counter: the warehouse is real, the count it reports is one short.
    monkeypatch.setattr(
        tidegate.deliver, "rows_of_file", lambda wh, name, file_id: real(wh, name, file_id) - 1
    )
    [file] = run(load_project(root)).files
    assert file.status == "failed"
    assert file.error is not None and "counts do not reconcile" in file.error
    assert "written=2" in file.error and "in_warehouse=1" in file.error
    monkeypatch.undo()
    with connect(load_project(root)) as wh:
        assert wh.columns_of("people", "core") is None or wh.count("people", "core") == 0
        assert wh.columns_of("people", "raw") is None or wh.count("people", "raw") == 0
    assert (root / "landing" / "people_1.csv").exists()
    [again] = run(load_project(root)).files
    assert (again.status, again.rows_loaded) == ("loaded", 2)
