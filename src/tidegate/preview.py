"""``tidegate run --dry-run``: what a run would do, measured by doing it and rolling back.

A dry run takes every step of a real run (read, map, check, quarantine, raw layer, load,
reconcile) inside each file's transaction, measures the targets before and after, reads
back the file's quarantine, and rolls the transaction back. So its numbers are the ones a
run would produce, not an estimate; and nothing is written to the warehouse or the ledger,
and no file moves.

Per target it reports rows inserted, updated and unchanged, and for scd2 the versions
opened and closed (a version is closed when it stops being current).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tidegate.config.models import Project, TargetConfig
from tidegate.sql import col, lit
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.ledger import FileRecord
from tidegate.warehouse.load import FILE_ID

REASONS_SHOWN = 5


@dataclass(frozen=True)
class Census:
    """A target's size before or after one file: all rows, current rows, the file's rows."""

    rows: int = 0
    current: int = 0
    of_file: int = 0


@dataclass
class TargetChange:
    target: str
    load: str
    offered: int = 0  # good rows of the file for this target
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # replace: the rows the snapshot would remove
    versions_opened: int = 0
    versions_closed: int = 0


@dataclass
class Reason:
    rule: str
    column: str | None
    rows: int
    example: str | None  # the first row's message


@dataclass
class Preview:
    """What one file would do."""

    targets: list[TargetChange] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)


class RolledBack(Exception):
    """Raised inside a file's transaction to undo it, carrying what it did."""

    def __init__(self, record: FileRecord, preview: Preview) -> None:
        super().__init__(record.path)
        self.record = record
        self.preview = preview


def census(wh: Warehouse, project: Project, names: list[str], file_id: str) -> dict[str, Census]:
    return {name: _census(wh, project.targets[name], name, file_id) for name in names}


def _census(wh: Warehouse, target: TargetConfig, name: str, file_id: str) -> Census:
    core = wh.schemas.core
    if wh.columns_of(name, core) is None:
        return Census()
    rows = wh.count(name, core)
    current = rows
    if target.load == "scd2":
        current = wh.count(name, core, where=col(target.history.columns.is_current).eq(lit(True)))
    return Census(rows, current, wh.count(name, core, where=col(FILE_ID).eq(lit(file_id))))


def change(
    name: str, target: TargetConfig, before: Census, after: Census, offered: int
) -> TargetChange:
    """What the file did to one target, from its census before and after."""
    new = after.of_file - before.of_file  # rows of this file the target gained
    out = TargetChange(name, target.load, offered=offered, unchanged=max(offered - new, 0))
    if target.load == "merge":
        out.inserted = after.rows - before.rows
        out.updated = new - out.inserted
    elif target.load == "replace":
        out.inserted, out.deleted, out.unchanged = after.rows, before.rows, 0
    elif target.load == "scd2":
        out.inserted = out.versions_opened = new
        out.versions_closed = max(before.current + new - after.current, 0)
    else:
        out.inserted = new
    return out


def reasons(wh: Warehouse, file_id: str) -> list[Reason]:
    """The file's quarantine as the run wrote it, counted by rule and column."""
    counts: Counter[tuple[str, str | None]] = Counter()
    examples: dict[tuple[str, str | None], str | None] = {}
    for record in ledger.list_quarantine(wh, file_id=file_id, status=None):
        for reason in json.loads(record.reasons):
            key = (str(reason.get("rule")), reason.get("column"))
            counts[key] += 1
            examples.setdefault(key, _text(reason.get("message")))
    return [
        Reason(rule, column, n, examples[(rule, column)])
        for (rule, column), n in counts.most_common(REASONS_SHOWN)
    ]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
