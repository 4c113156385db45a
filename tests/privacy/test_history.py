"""Erasure reaches every version of an SCD2 history, and the observation times kept by key.

The history is written the way the loader writes it (``warehouse.load.apply`` with typed,
hashed batches), so this runs whatever the state of the file pipeline's scd2 wiring.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.privacy.commands import erase_subject
from tidegate.privacy.context import Privacy
from tidegate.privacy.erase import Request, erase_request
from tidegate.sql import col, data_type, lit, table
from tidegate.transform.hashing import row_hash
from tidegate.warehouse import connect
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.load import LoadContext, apply

from .conftest import (
    ADA,
    CUSTOMERS_CSV,
    FILES,
    archived_texts,
    every_value,
    found,
    query,
    write,
)

SCD2 = FILES["targets/customers.yml"] + "load: scd2\n"
ROWS = [
    [
        {"id": "067318", "email": "e1", "city": "London"},
        {"id": "000002", "email": "e2", "city": "Leeds"},
    ],
    [{"id": "067318", "email": "e1", "city": "Paris"}],
    [{"id": "067318", "email": "e1", "city": "Rome"}],
]


def batch(
    wh: Warehouse, name: str, rows: list[dict[str, Any]], ctx: LoadContext
) -> pa.RecordBatchReader:
    target = Privacy.of(load_project(wh.root)).targets[name]
    names = list(target.columns)
    con = duckdb.connect()
    con.register(
        "_raw",
        pa.table(
            {n: pa.array([r.get(n) for r in rows], pa.string()) for n in names}
            | {"_row": pa.array(range(1, len(rows) + 1), pa.int64())}
        ),
    )
    typed = exp.select(
        *[
            exp.alias_(exp.cast(col(n), data_type(target.columns[n].type)), n, quoted=True)
            for n in names
        ],
        exp.alias_(lit(ctx.file_id), "_file_id", quoted=True),
        col("_row"),
        exp.alias_(exp.cast(lit(ctx.loaded_at), "timestamp"), "_loaded_at", quoted=True),
    ).from_(table("_raw"))
    query = exp.select(
        exp.Star(),
        exp.alias_(row_hash(target), "_row_hash", quoted=True),
        exp.alias_(exp.cast(lit(ctx.effective_at), "timestamp"), "_valid_from", quoted=True),
    ).from_(typed.subquery("_typed"))
    return pa.RecordBatchReader.from_batches(*_materialised(con, query))


def _materialised(
    con: duckdb.DuckDBPyConnection, query: exp.Select
) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    result = con.sql(query.sql("duckdb")).to_arrow_table()
    return result.schema, result.to_batches()


def test_every_version_and_its_observations_are_erased(tmp_path: Path) -> None:
    root = write(tmp_path / "history", {**FILES, "targets/customers.yml": SCD2})
    project = load_project(root)
    with connect(project) as wh:
        for day, rows in enumerate(ROWS, start=1):
            at = datetime(2024, 1, day)
            ctx = LoadContext(f"f{day}", at, at)
            with wh.transaction():
                apply(
                    wh,
                    "customers",
                    project.targets["customers"],
                    batch(wh, "customers", rows, ctx),
                    ctx,
                )
        assert query_in(wh, "customers", "067318") == 3
        with wh.transaction():
            result = erase_request(wh, Privacy.of(project), Request("r", {"id": "067318"}))
    assert result.touched.targets["customers"] == {"action": "delete", "rows": 3}
    assert query(root, "SELECT id FROM core.customers") == [("000002",)]
    observed = query(root, "SELECT count(*) FROM tidegate.customers__observed WHERE id = '067318'")
    assert observed == [(0,)]


def query_in(wh: Warehouse, name: str, key: str) -> int:
    return int(wh.count(name, wh.schemas.core, col("id").eq(lit(key))))


def test_through_the_pipeline_every_version_goes(tmp_path: Path) -> None:
    root = write(tmp_path / "shop", {**FILES, "targets/customers.yml": SCD2})
    write(root / "landing", {"customers_1.csv": CUSTOMERS_CSV})
    run(load_project(root))
    moved = CUSTOMERS_CSV.replace("1815-12-10,London", "1815-12-10,Paris")
    write(root / "landing", {"customers_2.csv": moved})
    run(load_project(root))
    assert query(root, "SELECT count(*) FROM core.customers WHERE id = '067318'") == [(2,)]

    report = erase_subject(load_project(root), [f"email={ADA['email']}"], "r-scd2")

    assert report.touched["targets"]["customers"] == {"action": "delete", "rows": 2}
    assert query(root, "SELECT count(*) FROM core.customers WHERE id = '067318'") == [(0,)]
    assert found(list(ADA.values()), every_value(root)) == []
    assert found(list(ADA.values()), archived_texts(root)) == []
