"""What an ``api:`` source remembers between pulls, in the ledger's schema beside the ledger.

``api_cursors``: per source, the cursor reached by its last complete pull (the highest
cursor value landed, and the hashes of the records at that value, so that an inclusive
``updated_since`` does not land them twice). ``api_breakers``: per source, the failed
requests in a row and when its circuit breaker opened, so a cool-down outlives the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from tidegate.sql import col, data_type, insert_values, lit, table
from tidegate.warehouse.base import Warehouse

CURSORS = "api_cursors"
BREAKERS = "api_breakers"


@dataclass(frozen=True)
class Cursor:
    """The highest cursor value landed, and the hashes of the records holding it."""

    value: Any = None
    seen: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> str:
        return json.dumps({"value": self.value, "seen": sorted(self.seen)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("value"), frozenset(data.get("seen", [])))


@dataclass
class Breaker:
    """A source's consecutive failed requests and the time its breaker opened, if open."""

    source: str
    failures: int = 0
    opened_at: datetime | None = None


def ensure(wh: Warehouse) -> None:
    """Create both tables (idempotent)."""
    meta = wh.schemas.meta
    wh.ensure_schema(meta)
    text, stamp, number = data_type("varchar"), data_type("timestamp"), data_type("bigint")
    cursors = [("source", text), ("cursor", text), ("pulled_at", stamp)]
    wh.ensure_table(CURSORS, meta, cursors, primary_key=["source"])
    breakers = [("source", text), ("failures", number), ("opened_at", stamp), ("updated_at", stamp)]
    wh.ensure_table(BREAKERS, meta, breakers, primary_key=["source"])


def _one(wh: Warehouse, name: str, columns: list[str], source: str) -> list[Any] | None:
    query = exp.select(*(col(c) for c in columns)).from_(table(name, wh.schemas.meta))
    rows = wh.execute(query.where(col("source").eq(lit(source))))
    return list(rows[0]) if rows else None


def _replace(wh: Warehouse, name: str, values: dict[str, Any]) -> None:
    """Delete then insert the source's row, in one transaction (an upsert every warehouse has)."""
    target = table(name, wh.schemas.meta)
    with wh.transaction():
        wh.execute(exp.delete(target, where=col("source").eq(lit(values["source"]))))
        wh.execute(insert_values(target, list(values), [list(values.values())]))


def cursor_of(wh: Warehouse, source: str) -> Cursor:
    row = _one(wh, CURSORS, ["cursor"], source)
    return Cursor.from_json(row[0] if row else None)


def save_cursor(wh: Warehouse, source: str, cursor: Cursor, when: datetime) -> None:
    _replace(wh, CURSORS, {"source": source, "cursor": cursor.to_json(), "pulled_at": when})


def breaker_of(wh: Warehouse, source: str) -> Breaker:
    row = _one(wh, BREAKERS, ["failures", "opened_at"], source)
    return Breaker(source, int(row[0] or 0), _stamp(row[1])) if row else Breaker(source)


def _stamp(value: Any) -> datetime | None:
    # SQLite hands a timestamp back as text.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def save_breaker(wh: Warehouse, breaker: Breaker, when: datetime) -> None:
    values = {
        "source": breaker.source,
        "failures": breaker.failures,
        "opened_at": breaker.opened_at,
        "updated_at": when,
    }
    _replace(wh, BREAKERS, values)
