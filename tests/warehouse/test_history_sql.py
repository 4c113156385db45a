"""The statements merge and scd2 send are portable: recorded on DuckDB, rendered for the
other warehouses' dialects, and parsed back there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from tidegate.config.models import ColumnSpec, HistoryConfig, TargetConfig, WarehouseConfig
from tidegate.warehouse.base import Row
from tidegate.warehouse.duckdb import DuckDBWarehouse

DIALECTS = ["postgres", "sqlite", "tsql"]


class Recording(DuckDBWarehouse):
    """DuckDB, keeping a copy of every statement it runs."""

    statements: list[exp.Expression]

    def execute(self, expression: exp.Expression) -> list[Row]:
        self.statements.append(expression.copy())
        return super().execute(expression)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Recording]:
    """Replaces the parametrised warehouse of conftest.py for this module."""
    warehouse = Recording(WarehouseConfig(type="duckdb", path=str(tmp_path / "w.duckdb")), tmp_path)
    warehouse.statements = []
    with warehouse:
        yield warehouse


def record(feed: Any) -> None:
    """Merge and scd2 loads that take every path: late, absent, folded, superseded."""
    columns = {
        "id": ColumnSpec(type="integer"),
        "name": ColumnSpec(),
        "n": ColumnSpec(type="decimal(10,2)"),
    }
    history = HistoryConfig(deletes="invalidate", valid_to_open="9999-12-31")
    scd2 = TargetConfig(columns=columns, key=["id"], load="scd2", history=history)
    partial = TargetConfig(columns=columns, key=["id"], load="scd2")
    merge = TargetConfig(columns=columns, key=["id"], load="merge", order_by="n")
    day = datetime(2024, 1, 1)
    for n, name in [(5, "b"), (1, "a"), (3, "c"), (2, "b")]:
        when = day + timedelta(days=n)
        rows = [{"id": 1, "name": name, "n": n}, {"id": n, "name": name}]
        feed.load("snapshots", scd2, rows, when)
        feed.load("partial", partial, rows, when)
        feed.load("upsert", merge, [*rows, {"id": 1, "name": "z", "n": 0}], when)


def test_every_statement_renders_and_parses_in_other_dialects(feed: Any, wh: Recording) -> None:
    record(feed)
    assert len(wh.statements) > 100
    for statement in wh.statements:
        for dialect in DIALECTS:
            text = statement.sql(dialect=dialect)
            assert sqlglot.parse_one(text, read=dialect) is not None, text
