"""The control store of a Spark warehouse: the ledger on a DuckDB file or a PostgreSQL server,
with the transactions the Spark tables lack."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tidegate.config.models import WarehouseConfig
from tidegate.warehouse import ledger
from tidegate.warehouse.control import control_config, open_control
from tidegate.warehouse.ledger import FileRecord


def _config(kind: str, request: pytest.FixtureRequest) -> WarehouseConfig:
    if kind == "postgres":
        return WarehouseConfig(type="spark", control=request.getfixturevalue("postgres_db_url"))
    return WarehouseConfig(type="spark", control="control.duckdb")


def _record(name: str) -> FileRecord:
    when = datetime(2024, 1, 1, 12, 0, 0)
    return FileRecord(
        f"id-{name}", "run-1", "events", name, name, 10, f"sha-{name}", "loaded", when
    )


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_the_ledger_commits_or_rolls_back_in_the_control_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = _config(kind, request)
    assert control_config(config).type == kind
    with open_control(config, tmp_path) as store:
        with store.transaction():
            ledger.ensure(store)
            ledger.insert_file(store, _record("a.csv"))
        with pytest.raises(RuntimeError), store.transaction():
            ledger.insert_file(store, _record("b.csv"))
            raise RuntimeError("a crash before the commit")
        assert [f.name for f in ledger.list_files(store)] == ["a.csv"]
    if kind == "duckdb":
        assert (tmp_path / "control.duckdb").is_file()  # relative to the project
