"""SQL models after a run: a model over a target that no file has created yet waits."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tidegate.config import load_project
from tidegate.pipeline import run

from .conftest import land, people_csv, write_project

COUNTS = "SELECT count(*) AS people FROM core.people"
OVER_MISSING = "SELECT count(*) AS n FROM core.orders"  # no source feeds it yet
OVER_MODEL = "SELECT people FROM people_count"


def views(root: Path) -> list[str]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
            " ORDER BY 1"
        )
        return [r[0] for r in rows.fetchall()]


def test_a_model_over_a_missing_table_waits_and_the_others_are_built(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "models/people_count.sql": COUNTS,
            "models/orders_count.sql": OVER_MISSING,
            "models/people_again.sql": OVER_MODEL,
        },
    )
    land(root, "people_1.csv", people_csv(("1", "Ada", "ada@example.org", "12/10/1815")))

    result = run(load_project(root))

    assert [f.status for f in result.files] == ["loaded"]
    assert views(root) == ["people_again", "people_count"]
