"""Applying one file's rows to a target table, by the target's load mode.

Every function runs inside the caller's transaction and returns how many rows it wrote
(``loaded``) and how many it found already present (``unchanged``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from sqlglot import exp

from tidegate.config.models import TargetConfig
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse.base import Warehouse

FILE_ID = "_file_id"
ROW = "_row"
LOADED_AT = "_loaded_at"
LINEAGE = [(FILE_ID, "varchar"), (ROW, "bigint"), (LOADED_AT, "timestamp")]


@dataclass(frozen=True)
class LoadContext:
    """What a loader knows about the file whose rows it applies."""

    file_id: str
    loaded_at: datetime
    effective_at: datetime  # the file's effective time (history.effective), default: run time


@dataclass(frozen=True)
class Applied:
    loaded: int
    unchanged: int = 0


def target_columns(target: TargetConfig) -> list[tuple[str, exp.DataType]]:
    business = [(name, data_type(spec.type)) for name, spec in target.columns.items()]
    return business + [(name, data_type(kind)) for name, kind in LINEAGE]


def ensure_target(wh: Warehouse, name: str, target: TargetConfig) -> None:
    wh.ensure_schema(wh.schemas.core)
    wh.ensure_table(name, wh.schemas.core, target_columns(target))


def append(
    wh: Warehouse, name: str, target: TargetConfig, rows: pa.RecordBatchReader, ctx: LoadContext
) -> Applied:
    return Applied(loaded=wh.write_arrow(name, wh.schemas.core, rows))


def replace(
    wh: Warehouse, name: str, target: TargetConfig, rows: pa.RecordBatchReader, ctx: LoadContext
) -> Applied:
    """The target becomes this file's content; atomic because the caller's transaction is."""
    wh.execute(exp.delete(table(name, wh.schemas.core)))
    return append(wh, name, target, rows, ctx)


Loader = Callable[[Warehouse, str, TargetConfig, pa.RecordBatchReader, LoadContext], Applied]

LOADERS: dict[str, Loader] = {"append": append, "replace": replace}


def apply(
    wh: Warehouse, name: str, target: TargetConfig, rows: pa.RecordBatchReader, ctx: LoadContext
) -> Applied:
    ensure_target(wh, name, target)
    try:
        loader = LOADERS[target.load]
    except KeyError:
        raise NotImplementedError(f"load mode {target.load!r} is not available yet") from None
    return loader(wh, name, target, rows, ctx)


def rows_of_file(wh: Warehouse, name: str, file_id: str) -> int:
    """Rows in a target that carry this file's id: the warehouse's side of reconciliation."""
    return wh.count(name, wh.schemas.core, where=col(FILE_ID).eq(lit(file_id)))
