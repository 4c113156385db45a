"""Handing one evaluated file to the warehouse: every output applied by its load mode,
each count checked against what the warehouse holds before the caller commits.

Used by a run (a new file) and by a replay (rows of an old file, fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tidegate.compute import work
from tidegate.compute.engine import Engine
from tidegate.compute.rows import target_rows
from tidegate.config.models import Project, TargetConfig
from tidegate.discover.context import FileContext
from tidegate.errors import ReconciliationError
from tidegate.transform.evaluate import Outcome
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.load import LoadContext, apply, rows_of_file


@dataclass(frozen=True)
class Delivery:
    """The file whose rows are delivered: its id and its context (for effective times), and
    when its rows load; ``fresh`` when no row of this file id can be in the warehouse yet
    (a new delivery). A replay delivers with the context and load time the run stored."""

    file_id: str
    file: FileContext
    loaded_at: datetime
    fresh: bool = False

    def context(self, target: TargetConfig) -> LoadContext:
        when = self.file.effective_at(target, self.loaded_at)
        return LoadContext(self.file_id, self.loaded_at, effective_at=when)


@dataclass
class Delivered:
    """What the outputs did: rows written per target, and the primary output's unchanged
    and superseded (overridden by a later row of the same key in the file)."""

    written: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    superseded: int = 0


def deliver(
    con: Engine,
    wh: Warehouse,
    project: Project,
    outcome: Outcome,
    delivery: Delivery,
    label: str,
) -> Delivered:
    """Apply every output; raise ReconciliationError (the caller rolls back) on any mismatch.

    The primary output (the first, when it is not an unnest) has one row per record, so its
    unchanged count is the file's.
    """
    before = {
        o.target: rows_of_file(wh, o.target, delivery.file_id)
        for o, _ in outcome.outputs
        if not delivery.fresh and _exists(wh, o.target)
    }
    done = Delivered()
    for index, (output, good) in enumerate(outcome.outputs):
        target = project.targets[output.target]
        context = delivery.context(target)
        expected = work.count(con, good)
        rows = target_rows(con, good, target, context)
        applied = apply(wh, output.target, target, rows, context)
        if applied.loaded + applied.unchanged + applied.superseded != expected:
            counts = {
                "expected": expected,
                "loaded": applied.loaded,
                "unchanged": applied.unchanged,
                "superseded": applied.superseded,
            }
            raise ReconciliationError(label, counts, f"target {output.target}")
        done.written[output.target] = done.written.get(output.target, 0) + applied.loaded
        if index == 0 and not output.unnest:
            done.unchanged, done.superseded = applied.unchanged, applied.superseded
    for name, count in done.written.items():
        in_warehouse = rows_of_file(wh, name, delivery.file_id) - before.get(name, 0)
        if in_warehouse != count:
            counts = {"written": count, "in_warehouse": in_warehouse}
            raise ReconciliationError(
                label, counts, f"rows of target {name} from {delivery.file_id}"
            )
    return done


def _exists(wh: Warehouse, target: str) -> bool:
    return wh.columns_of(target, wh.schemas.core) is not None
