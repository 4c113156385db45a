"""``run --dry-run``: the numbers a run would give, and nothing written, on every warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.pipeline.conftest import (
    PEOPLE_SCD2_TARGET,
    land,
    people_csv,
    project_file,
    snapshot,
    tidegate,
    write_project,
)


def _project(tmp_path: Path, warehouse: Callable[[], str]) -> Path:
    files = {"tidegate.yml": project_file(warehouse()), "targets/people.yml": PEOPLE_SCD2_TARGET}
    root = write_project(tmp_path / "project", files)
    land(
        root, "people1.csv", people_csv(("1", "Ann", "ann@x.org", ""), ("2", "Bo", "bo@x.org", ""))
    )
    assert tidegate(root, "run").returncode == 0
    # A change of Ann, a new key, a bad row, a file no source takes, a copy of a loaded file.
    land(
        root,
        "people2.csv",
        people_csv(
            ("1", "Ann B", "ann@x.org", ""),
            ("2", "Bo", "bo@x.org", ""),
            ("3", "Cy", "cy@x.org", ""),
            ("4", "Di", "not-an-email", ""),
        ),
    )
    land(root, "other.csv", "a,b\n1,2\n")
    land(
        root,
        "people1-copy.csv",
        people_csv(("1", "Ann", "ann@x.org", ""), ("2", "Bo", "bo@x.org", "")),
    )
    return root


def _files(output: str) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in json.loads(output)["files"]}


COUNTS = (
    "status",
    "rows_read",
    "rows_loaded",
    "rows_unchanged",
    "rows_quarantined",
    "rows_duplicate",
)


def test_a_dry_run_changes_nothing_and_predicts_the_run(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _project(tmp_path, warehouse)
    before = snapshot(root)
    dry = tidegate(root, "run", "--dry-run", "--json")
    assert dry.returncode == 1, dry.stderr  # other.csv would be rejected
    assert snapshot(root) == before  # warehouse, ledger, landing, archive, rejected

    predicted = _files(dry.stdout)
    assert json.loads(dry.stdout)["dry_run"] is True
    change = predicted["people2.csv"]["preview"]["targets"]
    assert change == [
        {
            "target": "people",
            "load": "scd2",
            "offered": 3,
            "inserted": 2,  # Ann's new version, Cy
            "updated": 0,
            "unchanged": 1,  # Bo
            "deleted": 0,
            "versions_opened": 2,
            "versions_closed": 1,  # Ann's first version
        }
    ]
    reasons = predicted["people2.csv"]["preview"]["reasons"]
    assert [(r["rule"], r["column"], r["rows"]) for r in reasons] == [("pattern", "email", 1)]
    assert predicted["other.csv"]["status"] == "rejected" and predicted["other.csv"]["error"]
    assert predicted["people1-copy.csv"]["status"] == "duplicate"

    real = _files(tidegate(root, "run", "--json").stdout)
    for path, file in predicted.items():
        assert {k: real[path][k] for k in COUNTS} == {k: file[k] for k in COUNTS}, path


def test_a_dry_run_on_a_new_project_leaves_no_ledger(tmp_path: Path) -> None:
    root = write_project(tmp_path / "fresh")
    land(root, "people1.csv", people_csv(("1", "Ann", "ann@x.org", "01/02/1990")))
    dry = tidegate(root, "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "nothing was written" in dry.stdout
    assert (root / "landing" / "people1.csv").exists()
    assert not (root / "archive").exists() or not any((root / "archive").rglob("*.gz"))
    state = snapshot(root)
    assert state["tidegate.files"] is None and state["core.people"] is None
    assert tidegate(root, "run").returncode == 0  # and the real run loads it
