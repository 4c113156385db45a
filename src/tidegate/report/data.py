"""What the report shows, read from the ledger: runs, sources, reasons, slow files, versions.

Everything here is a fact the warehouse already holds; nothing is recomputed from files.
Quarantined values are shown as the quarantine stores them, which is how the target the
rows were headed for would store them (its ``pii`` policy), so the report holds no
personal value the warehouse does not.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlglot import exp

from tidegate.config.models import Project
from tidegate.sql import col, lit, table
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.ledger import FileRecord, QuarantineRecord, RunRecord

EXAMPLES_PER_REASON = 3
SLOWEST = 10
TOP_REASONS = 10
QUARANTINE_SCAN = 200_000  # rows of quarantine read for the reason counts


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    seconds: float | None
    status: str
    files: int
    rows_loaded: int
    rows_quarantined: int
    files_rejected: int
    files_failed: int


@dataclass
class SourceSummary:
    name: str
    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rejected: int = 0
    failed: int = 0
    newest: datetime | None = None
    stale: bool | None = None  # None: the source sets no expect_every

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


@dataclass
class Reason:
    rule: str
    column: str | None
    target: str | None
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SlowFile:
    path: str
    source: str | None
    seconds: float
    rows_read: int
    status: str


@dataclass
class Versions:
    """Versions an scd2 target gained and closed in one run."""

    target: str
    run_id: str
    started_at: datetime
    opened: int
    closed: int


@dataclass
class Facts:
    project: str
    generated_at: datetime
    since: datetime | None
    runs: list[RunSummary]
    sources: list[SourceSummary]
    reasons: list[Reason]
    quarantine_total: int
    slowest: list[SlowFile]
    versions: list[Versions]
    erasures: dict[str, int]


def collect(wh: Warehouse, project: Project, now: datetime, since: timedelta | None) -> Facts:
    """Every fact of the report, for the runs started after ``now - since``."""
    ledger.ensure(wh)
    start = now - since if since is not None else None
    runs = [r for r in _all(ledger.list_runs, wh) if start is None or r.started_at >= start]
    run_ids = {r.run_id for r in runs}
    files = [f for f in _all(ledger.list_files, wh) if f.run_id in run_ids]
    quarantine = _quarantine(wh, start)
    return Facts(
        project=project.root.name,
        generated_at=now,
        since=start,
        runs=_runs(runs, files),
        sources=_sources(project, files, now),
        reasons=_reasons(quarantine),
        quarantine_total=len(quarantine),
        slowest=_slowest(files),
        versions=_versions(wh, project, runs, files),
        erasures=_erasures(wh, start),
    )


def _all(lister: Any, wh: Warehouse) -> list[Any]:
    return list(lister(wh, limit=1_000_000))


def _seconds(started: datetime, finished: datetime | None) -> float | None:
    return (finished - started).total_seconds() if finished is not None else None


def _runs(runs: list[RunRecord], files: list[FileRecord]) -> list[RunSummary]:
    by_run: dict[str, list[FileRecord]] = defaultdict(list)
    for f in files:
        by_run[f.run_id].append(f)
    out = [
        RunSummary(
            run_id=r.run_id,
            started_at=r.started_at,
            seconds=_seconds(r.started_at, r.finished_at),
            status=r.status,
            files=len(by_run[r.run_id]),
            rows_loaded=sum(f.rows_loaded for f in by_run[r.run_id]),
            rows_quarantined=sum(f.rows_quarantined for f in by_run[r.run_id]),
            files_rejected=r.files_rejected,
            files_failed=r.files_failed,
        )
        for r in runs
    ]
    return sorted(out, key=lambda r: r.started_at)


def _sources(project: Project, files: list[FileRecord], now: datetime) -> list[SourceSummary]:
    summaries = {name: SourceSummary(name) for name in project.sources}
    for f in files:
        summary = summaries.setdefault(f.source or "(unrouted)", SourceSummary(f.source or "-"))
        summary.files += 1
        summary.rejected += f.status == "rejected"
        summary.failed += f.status == "failed"
        if f.status == "loaded":
            summary.rows_read += f.rows_read
            summary.rows_loaded += f.rows_loaded
            summary.rows_quarantined += f.rows_quarantined
            summary.newest = max(filter(None, (summary.newest, f.started_at)))
    for name, summary in summaries.items():
        every = _expect_every(project, name)
        if every is not None:
            summary.stale = summary.newest is None or now - summary.newest > every
    return sorted(summaries.values(), key=lambda s: s.name)


def _expect_every(project: Project, source: str) -> timedelta | None:
    """The source's ``expect_every`` (its own, else the project's default), if any."""
    from tidegate.notify.stale import expect_every

    config = project.sources.get(source)
    return expect_every(project, config) if config is not None else None


def _quarantine(wh: Warehouse, start: datetime | None) -> list[QuarantineRecord]:
    records = ledger.list_quarantine(wh, status="open", limit=QUARANTINE_SCAN)
    return [q for q in records if start is None or q.quarantined_at >= start]


def _reasons(records: list[QuarantineRecord]) -> list[Reason]:
    counts: Counter[tuple[str, str | None, str | None]] = Counter()
    examples: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        for reason in json.loads(record.reasons):
            key = (str(reason.get("rule")), reason.get("column"), record.target)
            counts[key] += 1
            if len(examples[key]) < EXAMPLES_PER_REASON:
                examples[key].append(_example(record, reason))
    return [
        Reason(rule, column, target, n, examples[(rule, column, target)])
        for (rule, column, target), n in counts.most_common(TOP_REASONS)
    ]


def _example(record: QuarantineRecord, reason: dict[str, Any]) -> dict[str, Any]:
    return {
        "file_id": record.file_id,
        "row": record.row,
        "message": reason.get("message"),
        "value": reason.get("value"),
    }


def _slowest(files: list[FileRecord]) -> list[SlowFile]:
    timed = [
        SlowFile(f.path, f.source, seconds, f.rows_read, f.status)
        for f in files
        if (seconds := _seconds(f.started_at, f.finished_at)) is not None
    ]
    return sorted(timed, key=lambda s: s.seconds, reverse=True)[:SLOWEST]


def _versions(
    wh: Warehouse, project: Project, runs: list[RunRecord], files: list[FileRecord]
) -> list[Versions]:
    run_of = {f.file_id: f.run_id for f in files}
    started = {r.run_id: r.started_at for r in runs}
    out: list[Versions] = []
    for name, target in sorted(project.targets.items()):
        if target.load != "scd2" or wh.columns_of(name, wh.schemas.core) is None:
            continue
        opened = _per_run(wh.execute(_opened(wh, name)), run_of)
        closed = _per_run(wh.execute(_closed(wh, name, target.key, target)), run_of)
        for run_id in sorted(set(opened) | set(closed), key=lambda r: started[r]):
            out.append(
                Versions(
                    name, run_id, started[run_id], opened.get(run_id, 0), closed.get(run_id, 0)
                )
            )
    return out


def _per_run(rows: list[Any], run_of: dict[str, str]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for file_id, n in rows:
        if file_id in run_of:
            counts[run_of[file_id]] += int(n)
    return dict(counts)


def _opened(wh: Warehouse, name: str) -> exp.Select:
    """Versions per file that started them."""
    return (
        exp.select(col("_file_id"), exp.Count(this=exp.Star()))
        .from_(table(name, wh.schemas.core))
        .group_by(col("_file_id"))
    )


def _closed(wh: Warehouse, name: str, key: list[str], target: Any) -> exp.Select:
    """Versions per file whose new version ended them: the successor starts where the
    closed one ends, for the same key."""
    columns = target.history.columns
    join = exp.and_(
        *(col(k, "old").eq(col(k, "new")) for k in key),
        col(columns.valid_to, "old").eq(col(columns.valid_from, "new")),
    )
    return (
        exp.select(col("_file_id", "new"), exp.Count(this=exp.Star()))
        .from_(exp.alias_(table(name, wh.schemas.core), "old", table=True))
        .join(exp.alias_(table(name, wh.schemas.core), "new", table=True), on=join)
        .group_by(col("_file_id", "new"))
    )


def _erasures(wh: Warehouse, start: datetime | None) -> dict[str, int]:
    """How many requests the erasure log holds, and what they touched, added up."""
    from tidegate.privacy import tables as privacy_tables

    log = privacy_tables.ERASURES
    if wh.columns_of(log, wh.schemas.meta) is None:
        return {}
    query = exp.select(col("erased_at"), col("touched")).from_(table(log, wh.schemas.meta))
    if start is not None:
        query = query.where(col("erased_at") >= lit(start))
    totals: Counter[str] = Counter()
    for _, touched in wh.execute(query):
        totals["requests"] += 1
        for place, n in _touched(touched).items():
            totals[place] += n
    return dict(totals)


def _touched(text: str | None) -> dict[str, int]:
    """The erasure log's JSON as counts: rows per place (targets, raw tables, quarantine),
    and archives rewritten."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    counts: dict[str, int] = {}
    for place, detail in value.items():
        if isinstance(detail, bool):
            continue
        if isinstance(detail, int):
            counts[place] = detail
        elif isinstance(detail, list):
            counts[place] = len(detail)
        elif isinstance(detail, dict):
            counts[place] = sum(
                int(d.get("rows", 0)) for d in detail.values() if isinstance(d, dict)
            )
    return counts
