"""The warehouse every test in this folder runs against, and a feeder of rows.

``wh`` is parametrised over ``KINDS``: one test body, every warehouse listed there.
``feed`` applies rows the way the pipeline does: the typed rows of one output become a
table of the project's compute engine (``compute.engine``: on DuckDB the warehouse's own
connection), ``compute.target_rows`` adds lineage, row hash and effective time, and
``load.apply`` writes them in a transaction: on DuckDB by ``INSERT ... SELECT`` inside the
engine, elsewhere as Arrow batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from tidegate import compute
from tidegate.compute.engine import Engine
from tidegate.compute.rows import target_rows
from tidegate.config.models import Project, ProjectConfig, TargetConfig, WarehouseConfig
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse import adapter_class
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.load import ROW, Applied, LoadContext, apply, rows_of_file

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


EFFECTIVE = "_tg_feed_effective"  # a column of the good rows that carries their effective time


def engine_of(wh: Warehouse) -> Engine:
    """The compute engine the pipeline would use with this warehouse."""
    return compute.engine(wh, Project(root=wh.root, config=ProjectConfig(), targets={}, sources={}))


@dataclass
class Feeder:
    """Applies lists of row dicts to a target, as the pipeline would, and reads it back."""

    wh: Warehouse
    files: int = 0
    engine: Engine = field(init=False)
    _tables: Iterator[int] = field(default_factory=count)

    def __post_init__(self) -> None:
        self.engine = engine_of(self.wh)

    def rows(
        self,
        target: TargetConfig,
        rows: Sequence[dict[str, Any]],
        ctx: LoadContext,
        *,
        columns: Sequence[str] | None = None,
        with_valid_from: bool = False,
    ) -> Rows:
        """``compute.target_rows`` of the typed rows (business columns in ``columns`` order
        and ``_row``), as a mapping leaves them in the engine. ``with_valid_from``: each row
        carries the file's effective time in a column, as ``effective: column:<name>`` does;
        otherwise the loader gives them the file's."""
        names = list(columns or target.columns)
        values = {n: pa.array([r.get(n) for r in rows]) for n in names}
        raw = pa.table(values | {ROW: pa.array(range(1, len(rows) + 1), pa.int64())})
        typed: list[exp.Expr] = [
            exp.alias_(exp.cast(col(n), data_type(target.columns[n].type)), n, quoted=True)
            for n in names
        ]
        typed.append(col(ROW))
        if with_valid_from:
            when = exp.cast(lit(ctx.effective_at), "timestamp")
            typed.append(exp.alias_(when, EFFECTIVE, quoted=True))
            history = target.history.model_copy(update={"effective": f"column:{EFFECTIVE}"})
            target = target.model_copy(update={"history": history})
        good = f"_tg_feed_good_{next(self._tables)}"
        self.engine.register("_tg_feed_raw", raw)
        try:
            self.engine.create(good, exp.select(*typed).from_(table("_tg_feed_raw")))
        finally:
            self.engine.unregister("_tg_feed_raw")
        return target_rows(self.engine, good, target, ctx)

    def batch(
        self, target: TargetConfig, rows: Sequence[dict[str, Any]], ctx: LoadContext, **options: Any
    ) -> pa.RecordBatchReader:
        """The same rows as Arrow batches, for a test to change before it applies them
        (read to the end: on DuckDB the engine is the warehouse's connection)."""
        read = self.rows(target, rows, ctx, **options).batches().read_all()
        return pa.RecordBatchReader.from_batches(read.schema, read.to_batches())

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
            applied = apply(self.wh, name, target, self.rows(target, rows, ctx, **options), ctx)
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
