"""Example 003's API variant, as shipped: its own server, its own project, the marts' answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.scaffold import example


def test_the_api_variant_loads_what_the_csv_variant_loads(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example(tmp_path / "cars", name="003-car-subscriptions")
    root = tmp_path / "cars" / "api"
    monkeypatch.setenv("CAR_API", api.url)
    result = run(load_project(root))
    assert result.ok
    landed = {p.source: (len(p.files), p.records, p.pages, p.retries) for p in result.pulls}
    assert landed == {
        "cars": (1, 1200, 7, 0),
        "customers": (1, 550, 6, 0),
        "subscriptions": (3, 1200, 12, 0),
    }
    assert sum(f.rows_loaded for f in result.files) == 2950
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        distribution = con.execute(
            "SELECT term_months, sum(subscriptions) FROM marts.type_distribution"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert distribution == [(6, 114), (12, 1086)]
        assert con.execute("SELECT sum(cars) FROM marts.defleeted_cars_volumes").fetchall() == [
            (602,)
        ]
