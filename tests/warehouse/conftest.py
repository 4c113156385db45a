"""The warehouse every test in this folder runs against, and a feeder of typed batches.

``wh`` is parametrised over ``KINDS``: one test body, every warehouse listed there.
``feed`` builds batches the way the pipeline does (typed columns, lineage, row hash and
effective time computed by the DuckDB compute engine) and applies them in a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from tidegate.config.models import TargetConfig, WarehouseConfig
from tidegate.sql import col, data_type, lit, table
from tidegate.transform.hashing import row_hash
from tidegate.warehouse import adapter_class
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.load import Applied, LoadContext, apply, rows_of_file

from ..conftest import WAREHOUSES

KINDS = WAREHOUSES  # the suite's one list
FILES = {"duckdb": "warehouse.duckdb", "sqlite": "warehouse.sqlite"}


def make_warehouse(kind: str, root: Path, request: pytest.FixtureRequest) -> Warehouse:
    if kind == "postgres":
        config = WarehouseConfig(type="postgres", url=request.getfixturevalue("postgres_db_url"))
    else:
        config = WarehouseConfig(type=kind, path=str(root / FILES[kind]))  # type: ignore[arg-type]
    return adapter_class(kind)(config, root)


@pytest.fixture(params=KINDS)
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    with make_warehouse(request.param, tmp_path, request) as warehouse:
        yield warehouse


@dataclass
class Feeder:
    """Applies lists of row dicts to a target, as the pipeline would, and reads it back."""

    wh: Warehouse
    compute: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)
    files: int = 0

    def batch(
        self,
        target: TargetConfig,
        rows: Sequence[dict[str, Any]],
        ctx: LoadContext,
        *,
        columns: Sequence[str] | None = None,
        with_valid_from: bool = True,
    ) -> pa.RecordBatchReader:
        """Typed business columns (in ``columns`` order), lineage, hash, effective time."""
        names = list(columns or target.columns)
        values = {n: pa.array([r.get(n) for r in rows]) for n in names}
        raw = pa.table(values | {"_row": pa.array(range(1, len(rows) + 1), pa.int64())})
        self.compute.register("_raw", raw)
        typed = exp.select(
            *[
                exp.alias_(exp.cast(col(n), data_type(target.columns[n].type)), n, quoted=True)
                for n in names
            ],
            exp.alias_(lit(ctx.file_id), "_file_id", quoted=True),
            exp.alias_(exp.cast(col("_row"), "bigint"), "_row", quoted=True),
            exp.alias_(exp.cast(lit(ctx.loaded_at), "timestamp"), "_loaded_at", quoted=True),
        ).from_(table("_raw"))
        extra: list[exp.Expression] = []
        if target.load in ("merge", "scd2"):
            extra.append(exp.alias_(row_hash(target), target.history.columns.row_hash, quoted=True))
        if target.load == "scd2" and with_valid_from:
            when = exp.cast(lit(ctx.effective_at), "timestamp")
            extra.append(exp.alias_(when, target.history.columns.valid_from, quoted=True))
        query = exp.select(exp.Star(), *extra).from_(typed.subquery("_typed"))
        result = self.compute.sql(query.sql("duckdb")).to_arrow_reader(2)
        return result

    def load(
        self,
        name: str,
        target: TargetConfig,
        rows: Sequence[dict[str, Any]],
        at: datetime,
        *,
        file_id: str | None = None,
        **options: Any,
    ) -> Applied:
        """Apply in one transaction; the loaded count is checked against the table."""
        self.files += 1
        ctx = LoadContext(file_id or f"f{self.files}", loaded_at=at, effective_at=at)
        with self.wh.transaction():
            applied = apply(self.wh, name, target, self.batch(target, rows, ctx, **options), ctx)
            assert rows_of_file(self.wh, name, ctx.file_id) == applied.loaded
        assert applied.loaded + applied.unchanged + applied.superseded == len(rows)
        return applied

    def read(self, name: str, columns: Sequence[str], order: Sequence[str]) -> list[dict[str, Any]]:
        query = (
            exp.select(*[col(c) for c in columns])
            .from_(table(name, self.wh.schemas.core))
            .order_by(*[col(c) for c in order])
        )
        return [dict(zip(columns, row, strict=True)) for row in self.wh.execute(query)]


@pytest.fixture
def feed(wh: Warehouse) -> Feeder:
    return Feeder(wh)
