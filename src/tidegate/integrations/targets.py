"""A run and the ledger seen per target, for orchestrators: what a run did to each target,
and the contract's checks of each target. No orchestrator is imported here.

A source may feed several targets and a target may be fed by several sources; a file's
counts belong to every target its source feeds, except rows written, which the warehouse
counts per target (``_file_id``), and quarantined rows, which the quarantine keeps per
target.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from tidegate.config.models import Project, TargetConfig
from tidegate.notify import over_limit
from tidegate.notify.stale import Stale, check
from tidegate.pipeline import FileResult, RunResult
from tidegate.privacy import tables as privacy_tables
from tidegate.sql import col, lit, table
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.batch import FILE_ID
from tidegate.warehouse.ledger import FileRecord

CHUNK = 500  # ids per IN list


def sources_of(project: Project, target: str) -> list[str]:
    """The sources with an output into ``target``."""
    return sorted(
        n for n, s in project.sources.items() if any(o.target == target for o in s.outputs)
    )


def sources_for(project: Project, targets: Iterable[str]) -> set[str]:
    return {s for t in targets for s in sources_of(project, t)}


def targets_of(project: Project, sources: Iterable[str]) -> set[str]:
    return {o.target for s in sources for o in project.sources[s].outputs}


def primary_target(project: Project, source: str) -> str | None:
    """The output with one row per record, whose unchanged count is the file's."""
    outputs = project.sources[source].outputs
    return outputs[0].target if outputs and not outputs[0].unnest else None


# --------------------------------------------------------------------------- one run


@dataclass
class TargetSummary:
    """What one run did to one target."""

    target: str
    run_id: str
    files_loaded: int = 0
    files_rejected: int = 0
    files_failed: int = 0
    files_duplicate: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_rejected: int = 0  # rows read from files that were rejected
    versions_opened: int | None = None  # scd2 only
    versions_closed: int | None = None
    errors: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        values = {k: v for k, v in self.__dict__.items() if k not in ("target", "errors")}
        return {k: v for k, v in values.items() if v is not None}


def current_versions(wh: Warehouse, project: Project, targets: Iterable[str]) -> dict[str, int]:
    """Current rows of each scd2 target, taken before a run to count the versions it closed."""
    counts = {}
    for name in targets:
        target = project.targets[name]
        if target.load == "scd2":
            counts[name] = _current(wh, name, target)
    return counts


def _current(wh: Warehouse, name: str, target: TargetConfig) -> int:
    if wh.columns_of(name, wh.schemas.core) is None:
        return 0
    flag = col(target.history.columns.is_current).eq(exp.true())
    return wh.count(name, wh.schemas.core, where=flag)


def summarise(
    wh: Warehouse,
    project: Project,
    result: RunResult,
    targets: Iterable[str],
    before: dict[str, int] | None = None,
) -> dict[str, TargetSummary]:
    """Per target: files and rows of this run; versions opened and closed for scd2 targets
    (closed = opened - the growth of the current rows since ``before``)."""
    quarantined = _quarantined_by_target(wh, project, result.files)
    out = {}
    for name in targets:
        feeding = set(sources_of(project, name))
        files = [f for f in result.files if f.source in feeding]
        summary = TargetSummary(name, result.run_id)
        for file in files:
            _count_file(summary, project, file)
        loaded = [f.file_id for f in files if f.status == "loaded" and f.file_id]
        summary.rows_loaded = _rows_of_files(wh, name, loaded)
        summary.rows_quarantined = quarantined.get(name, 0)
        target = project.targets[name]
        if target.load == "scd2":
            summary.versions_opened = summary.rows_loaded
            grown = _current(wh, name, target) - (before or {}).get(name, 0)
            summary.versions_closed = max(summary.rows_loaded - grown, 0)
        out[name] = summary
    return out


def _count_file(summary: TargetSummary, project: Project, file: FileResult) -> None:
    status = file.status
    if status in ("loaded", "rejected", "failed", "duplicate"):
        setattr(summary, f"files_{status}", getattr(summary, f"files_{status}") + 1)
    if status == "rejected":
        summary.rows_rejected += file.rows_read
    if (
        status == "loaded"
        and file.source
        and primary_target(project, file.source) == summary.target
    ):
        summary.rows_unchanged += file.rows_unchanged
    if file.error and status in ("rejected", "failed"):
        summary.errors.append(f"{file.path}: {file.error}")


def _rows_of_files(wh: Warehouse, name: str, file_ids: Sequence[str]) -> int:
    if not file_ids or wh.columns_of(name, wh.schemas.core) is None:
        return 0
    total = 0
    for start in range(0, len(file_ids), CHUNK):
        ids = [lit(i) for i in file_ids[start : start + CHUNK]]
        total += wh.count(name, wh.schemas.core, where=col(FILE_ID).isin(*ids))
    return total


def _quarantined_by_target(
    wh: Warehouse, project: Project, files: Sequence[FileResult]
) -> dict[str, int]:
    """Quarantined rows of these files per target; a record bad before any mapping (an
    unreadable line) counts for its source's primary target."""
    ids = [f.file_id for f in files if f.rows_quarantined and f.file_id]
    counts: dict[str, int] = {}
    quarantine = table(ledger.QUARANTINE, wh.schemas.meta)
    for start in range(0, len(ids), CHUNK):
        chunk = [lit(i) for i in ids[start : start + CHUNK]]
        query = (
            exp.select(col("source"), col("target"), exp.Count(this=exp.Star()))
            .from_(quarantine)
            .where(col("file_id").isin(*chunk))
            .group_by(col("source"), col("target"))
        )
        for source, target, n in wh.execute(query):
            name = target or (
                primary_target(project, str(source)) if source in project.sources else None
            )
            if name:
                counts[str(name)] = counts.get(str(name), 0) + int(n)
    return counts


# --------------------------------------------------------------------------- checks


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def last_run_files(wh: Warehouse, project: Project, target: str) -> list[FileRecord]:
    """The ledger's files of the latest run that had a file for this target's sources."""
    feeding = sources_of(project, target)
    if not feeding:
        return []
    files = table(ledger.FILES, wh.schemas.meta)
    of_sources = col("source").isin(*[lit(s) for s in feeding])
    latest = (
        exp.select(col("run_id"))
        .from_(files)
        .where(of_sources)
        .order_by(exp.Ordered(this=col("started_at"), desc=True))
        .limit(1)
    )
    rows = wh.execute(latest)
    if not rows:
        return []
    names = [col(f) for f in FileRecord.__dataclass_fields__]
    query = (
        exp.select(*names).from_(files).where(of_sources).where(col("run_id").eq(lit(rows[0][0])))
    )
    return [FileRecord(*row) for row in wh.execute(query.order_by(col("path")))]


def reconciled(wh: Warehouse, project: Project, target: str) -> CheckOutcome:
    """Every file of the last run: read = loaded + unchanged + quarantined + duplicate, and
    no file failed because its counts did not add up."""
    files = last_run_files(wh, project, target)
    if not files:
        return CheckOutcome(True, "no file has been loaded for this target yet")
    wrong = [
        f.path
        for f in files
        if (f.status == "loaded" and f.rows_read != _parts(f))
        or (f.status == "failed" and "do not reconcile" in (f.error or ""))
    ]
    meta = {"run_id": files[0].run_id, "files": len(files), "files_not_reconciled": wrong[:20]}
    meta["rows_read"] = sum(f.rows_read for f in files if f.status == "loaded")
    if wrong:
        return CheckOutcome(False, f"{len(wrong)} files of the last run do not reconcile", meta)
    return CheckOutcome(True, f"{len(files)} files of the last run reconcile", meta)


def _parts(f: FileRecord) -> int:
    return f.rows_loaded + f.rows_unchanged + f.rows_quarantined + f.rows_duplicate


def quarantine_rate(wh: Warehouse, project: Project, target: str) -> CheckOutcome:
    """No file of the last run over the target's ``reject_file_over``."""
    limit = project.targets[target].reject_file_over
    files = [f for f in last_run_files(wh, project, target) if f.status in ("loaded", "rejected")]
    read = sum(f.rows_read for f in files)
    bad = sum(f.rows_quarantined for f in files)
    meta: dict[str, Any] = {"rows_read": read, "rows_quarantined": bad, "limit": str(limit)}
    meta["rate"] = round(bad / read, 6) if read else 0.0
    if limit is None:
        return CheckOutcome(True, "the target sets no reject_file_over", meta)
    over = [f.path for f in files if over_limit(f.rows_quarantined, f.rows_read, limit)]
    meta["files_over"] = over[:20]
    if over:
        return CheckOutcome(False, f"{len(over)} files over the limit of {limit}", meta)
    return CheckOutcome(True, f"every file of the last run under {limit}", meta)


def freshness(wh: Warehouse, project: Project, target: str) -> CheckOutcome:
    """The newest file of each feeding source is younger than its ``expect_every``, and no
    file of theirs has waited in landing longer than that."""
    feeding = set(sources_of(project, target))
    found: list[Stale] = [s for s in check(project, wh) if s.source in feeding]
    meta = {"stale": [s.describe() for s in found]}
    if found:
        return CheckOutcome(False, "; ".join(meta["stale"][:3]), meta)
    return CheckOutcome(True, f"every source of {target} is fresh", meta)


def erasures_applied(wh: Warehouse, project: Project, target: str) -> CheckOutcome:
    """Every request row of every loaded file of this ``load: erase`` target is in the
    erasure log (whose origin is the file's id)."""
    loaded = [f for f in _loaded_files(wh, sources_of(project, target)) if f.rows_loaded]
    logged = _logged_requests(wh, [f.file_id for f in loaded])
    missing = [f.path for f in loaded if logged.get(f.file_id, 0) < f.rows_loaded]
    meta = {
        "files": len(loaded),
        "requests": sum(f.rows_loaded for f in loaded),
        "logged": sum(logged.values()),
        "files_not_applied": missing[:20],
    }
    if missing:
        return CheckOutcome(False, f"{len(missing)} request files not fully applied", meta)
    return CheckOutcome(True, f"{meta['requests']} erasure requests applied", meta)


def _loaded_files(wh: Warehouse, sources: Sequence[str]) -> list[FileRecord]:
    if not sources:
        return []
    names = [col(f) for f in FileRecord.__dataclass_fields__]
    query = (
        exp.select(*names)
        .from_(table(ledger.FILES, wh.schemas.meta))
        .where(col("source").isin(*[lit(s) for s in sources]))
        .where(col("status").eq(lit("loaded")))
    )
    return [FileRecord(*row) for row in wh.execute(query.order_by(col("path")))]


def _logged_requests(wh: Warehouse, file_ids: Collection[str]) -> dict[str, int]:
    if not file_ids or wh.columns_of(privacy_tables.ERASURES, wh.schemas.meta) is None:
        return {}
    ids = list(file_ids)
    counts: dict[str, int] = {}
    log = table(privacy_tables.ERASURES, wh.schemas.meta)
    for start in range(0, len(ids), CHUNK):
        chunk = [lit(i) for i in ids[start : start + CHUNK]]
        query = (
            exp.select(col("origin"), exp.Count(this=exp.Star()))
            .from_(log)
            .where(col("origin").isin(*chunk))
            .group_by(col("origin"))
        )
        counts.update({str(origin): int(n) for origin, n in wh.execute(query)})
    return counts
