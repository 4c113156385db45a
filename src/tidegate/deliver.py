"""Handing one evaluated file to the warehouse: every output applied by its load mode,
each count checked against what the warehouse holds before the caller commits.

Used by a run (a new file) and by a replay (rows of an old file, fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from tidegate import compute
from tidegate.config.models import Project
from tidegate.errors import ReconciliationError
from tidegate.transform.evaluate import Outcome
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.load import LoadContext, apply, rows_of_file


@dataclass
class Delivered:
    """What the outputs did: rows written per target, and the primary output's unchanged."""

    written: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0


def deliver(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    project: Project,
    outcome: Outcome,
    context: LoadContext,
    label: str,
) -> Delivered:
    """Apply every output; raise ReconciliationError (the caller rolls back) on any mismatch.

    The primary output (the first, when it is not an unnest) has one row per record, so its
    unchanged count is the file's.
    """
    before = {
        o.target: rows_of_file(wh, o.target, context.file_id)
        for o, _ in outcome.outputs
        if _exists(wh, o.target)
    }
    done = Delivered()
    for index, (output, good) in enumerate(outcome.outputs):
        target = project.targets[output.target]
        expected = compute.count(con, good)
        rows = compute.target_rows(con, good, target, context)
        applied = apply(wh, output.target, target, rows, context)
        if applied.loaded + applied.unchanged != expected:
            counts = {
                "expected": expected,
                "loaded": applied.loaded,
                "unchanged": applied.unchanged,
            }
            raise ReconciliationError(label, counts, f"target {output.target}")
        done.written[output.target] = done.written.get(output.target, 0) + applied.loaded
        if index == 0 and not output.unnest:
            done.unchanged = applied.unchanged
    for name, count in done.written.items():
        in_warehouse = rows_of_file(wh, name, context.file_id) - before.get(name, 0)
        if in_warehouse != count:
            counts = {"written": count, "in_warehouse": in_warehouse}
            raise ReconciliationError(
                label, counts, f"rows of target {name} from {context.file_id}"
            )
    return done


def _exists(wh: Warehouse, target: str) -> bool:
    return wh.columns_of(target, wh.schemas.core) is not None
