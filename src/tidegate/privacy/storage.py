"""After erasures: the bytes of the erased values leave the warehouse's files and rejected/.

An erasure deletes and updates rows inside a transaction; the engines keep the old
values' bytes in their files until they happen to reuse the space (DuckDB's free blocks,
SQLite's free pages, PostgreSQL's dead tuples). ``forget`` asks the adapter to rewrite
its storage (``Warehouse.forget_bytes``) and rewrites the rejected files that carry an
erased subject, once for every erasure committed since the last rewrite: one per
``tidegate erase`` and one per run, however many requests the run applied.

``<meta>.erasure_rewrites`` counts the erasures each rewrite covered. A rewrite that did
not finish (a process killed midway) left no row, so the next run or erase does it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlglot import exp

from tidegate import log
from tidegate.clock import utcnow
from tidegate.privacy import archives, tables, vault
from tidegate.privacy.context import Privacy
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse

REWRITES = "erasure_rewrites"
COLUMNS = [("rewritten_at", data_type("timestamp")), ("erasures", data_type("bigint"))]
QUARANTINE = "quarantine"


@dataclass
class Forgotten:
    """What one call did: how many erasures it covered, and what it could not rewrite."""

    erasures: int = 0
    storage: bool = False  # the warehouse's files were rewritten
    not_rewritten: list[str] = field(default_factory=list)  # rejected files
    warnings: list[str] = field(default_factory=list)


def pending(wh: Warehouse) -> tuple[int, int]:
    """(erasures logged, erasures covered by a finished rewrite)."""
    meta = wh.schemas.meta
    if wh.columns_of(tables.ERASURES, meta) is None:
        return 0, 0
    logged = int(wh.scalar(exp.select(exp.func("count", exp.Star())).from_(_erasures(wh))) or 0)
    if wh.columns_of(REWRITES, meta) is None:
        return logged, 0
    covered = exp.select(exp.func("max", col("erasures"))).from_(table(REWRITES, meta))
    return logged, int(wh.scalar(covered) or 0)


def forget(wh: Warehouse, privacy: Privacy) -> Forgotten:
    """Rewrite what the erasures since the last rewrite left behind; outside a transaction."""
    logged, covered = pending(wh)
    done = Forgotten(erasures=logged - covered)
    if logged <= covered:
        return done
    done.not_rewritten = archives.rewrite_rejected(wh, privacy)
    done.storage = wh.forget_bytes(touched_tables(wh, privacy))
    if not done.storage:
        done.warnings.append(
            f"{wh.NAME} cannot rewrite its storage: the erased values' bytes stay in its files"
            " until the engine reuses their space"
        )
    with wh.transaction():
        wh.ensure_table(REWRITES, wh.schemas.meta, COLUMNS)
        row = exp.values([(lit(utcnow()), lit(logged))])
        names = [exp.to_identifier(n, quoted=True) for n, _ in COLUMNS]
        wh.execute(exp.insert(row, table(REWRITES, wh.schemas.meta), columns=names))
    log.event(
        "erasure storage rewritten",
        logging.INFO if done.storage else logging.WARNING,
        erasures=done.erasures,
        storage=done.storage,
        not_rewritten=len(done.not_rewritten),
    )
    return done


def touched_tables(wh: Warehouse, privacy: Privacy) -> list[tuple[str, str]]:
    """Every table an erasure can change, as (schema, name): the targets that declare a
    subject and their observation times, the raw layer of the sources feeding them,
    quarantine, the sealed originals, the vault, and the ledger (a rejected file's
    reason may quote a value)."""
    schemas = wh.schemas
    found = [(schemas.core, name) for name in privacy.graph.children_first()]
    found += [(schemas.meta, f"{name}__observed") for name in privacy.graph.children_first()]
    found += [
        (schemas.raw, name)
        for name, source in privacy.project.sources.items()
        if privacy.touches(source)
    ]
    meta = [QUARANTINE, tables.ORIGINALS, vault.VAULT, ledger.FILES, tables.SUBJECT_RECORDS]
    found += [(schemas.meta, name) for name in meta]
    return sorted({(s, n) for s, n in found if wh.columns_of(n, s) is not None})


def _erasures(wh: Warehouse) -> exp.Table:
    return table(tables.ERASURES, wh.schemas.meta)
