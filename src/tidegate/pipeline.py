"""The per-file flow, in one place: discover, read, map and check, load, verify, archive.

for each stable file in landing:
    seen before?      -> finish its archive move, or record a duplicate delivery
    route             -> exactly one source, or rejected
    read              -> records (+ bad records), or rejected
    check columns     -> missing mapped columns: rejected; new columns: noted
    map and check     -> good rows, quarantined records, duplicates
    threshold         -> too many bad rows: rejected, nothing loaded
    one transaction   -> raw layer, targets, quarantine, ledger row; counts verified
    archive           -> the file leaves landing
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from sqlglot import exp

from tidegate import __version__, archive, compute, schema
from tidegate.clock import utcnow as now
from tidegate.config.models import Project, SourceConfig
from tidegate.deliver import Delivery, deliver
from tidegate.discover import LandingFile, route, scan
from tidegate.errors import (
    FileError,
    MissingColumnsError,
    ReconciliationError,
    RoutingError,
    ThresholdError,
    TidegateError,
    TransientError,
)
from tidegate.faults import checkpoint
from tidegate.models import build_models
from tidegate.privacy import hooks as privacy
from tidegate.read import ReadResult, peek_columns, read_file
from tidegate.transform import mapping
from tidegate.transform.evaluate import Outcome, Plan, evaluate, plan, set_file_values
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.ledger import FileRecord, RunRecord

Progress = Callable[["FileResult"], None]
Routed = str | RoutingError  # the file's source, or why it has none


@dataclass
class FileResult:
    """What happened to one file, as ``run --json`` reports it."""

    name: str
    path: str
    source: str | None
    status: str
    file_id: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    error: str | None = None
    new_columns: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    run_id: str
    files: list[FileResult]

    @property
    def ok(self) -> bool:
        return all(f.status in ("loaded", "duplicate", "skipped") for f in self.files)


def source_ranks(project: Project) -> dict[str, int]:
    """How deep each source sits in the reference graph: 0 for sources nobody waits on."""
    feeds = {name: {o.target for o in s.outputs} for name, s in project.sources.items()}
    needs = {
        name: {ref.target for target in targets for ref in project.targets[target].references}
        for name, targets in feeds.items()
    }
    ranks: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name not in ranks:
            providers = [
                other for other, fed in feeds.items() if other not in seen and fed & needs[name]
            ]
            ranks[name] = 1 + max((depth(p, seen | {name}) for p in providers), default=-1)
        return ranks[name]

    for name in feeds:
        depth(name, frozenset())
    return ranks


class Pipeline:
    """One run over a project's landing folder."""

    def __init__(self, project: Project, wh: Warehouse, progress: Progress | None = None) -> None:
        self.project = project
        self.wh = wh
        self.progress = progress
        self.run_id = uuid.uuid4().hex
        limit = project.config.memory_limit
        self.con = wh.engine(limit) or compute.connect(project.root, limit)
        self.plans: dict[str, Plan] = {}  # each source's SQL, rendered once per run

    # -- the run ----------------------------------------------------------------------

    def run(self) -> RunResult:
        started = now()
        schema.prepare(self.wh, self.project, self.run_id)  # every table exists, none unsafe
        with self.wh.transaction():
            ledger.ensure(self.wh)
            ledger.insert_run(self.wh, RunRecord(self.run_id, started, version=__version__))
        landing = self.project.path("landing")
        files = scan(landing, self.project.config.settle_seconds)
        results = [self._one(file, routed) for file, routed in self._in_dependency_order(files)]
        archive.remove_empty_folders(landing)
        with self.wh.transaction():
            build_models(self.wh, self.project)
        self._finish_run(results)
        return RunResult(self.run_id, results)

    def _route(self, file: LandingFile) -> str | RoutingError:
        try:
            return route(file, self.project.sources, self._peek)
        except RoutingError as exc:
            return exc

    def _in_dependency_order(self, files: list[LandingFile]) -> list[tuple[LandingFile, Routed]]:
        """Files of sources that others reference first (customers before transactions),
        each source's files in path order."""
        rank = source_ranks(self.project)
        routed = [(file, self._route(file)) for file in files]
        return sorted(
            routed,
            key=lambda pair: (
                rank.get(pair[1], -1) if isinstance(pair[1], str) else -1,
                pair[0].relative,
            ),
        )

    def _one(self, file: LandingFile, routed: Routed) -> FileResult:
        if not self.wh.lock(file.sha256):
            return _skipped(file, "another run is loading it")
        try:
            if not file.path.exists():  # another run took it between our scan and our lock
                return _skipped(file, "another run has loaded it")
            result = self._with_retries(file, routed)
        finally:
            self.wh.unlock(file.sha256)
        if self.progress:
            self.progress(result)
        return result

    def _with_retries(self, file: LandingFile, routed: Routed) -> FileResult:
        """Transient warehouse errors retry the whole file; each attempt re-reads the ledger."""
        try:
            return self.wh.retry(lambda: self.process(file, routed))
        except TransientError as exc:
            source = routed if isinstance(routed, str) else None
            return self._fail(self._record(file, source, "failed"), _first_line(exc))

    def _finish_run(self, results: list[FileResult]) -> None:
        counts = {s: sum(1 for r in results if r.status == s) for s in ledger.STATUSES}
        status = "ok" if counts["rejected"] + counts["failed"] == 0 else "partial"
        values = {f"files_{s}": n for s, n in counts.items()}
        with self.wh.transaction():
            ledger.update(
                self.wh,
                ledger.RUNS,
                ("run_id", self.run_id),
                {**values, "status": status, "finished_at": now()},
            )

    # -- one file ---------------------------------------------------------------------

    def process(self, file: LandingFile, routed: Routed) -> FileResult:
        """Load one file, or reject it; never half of it."""
        self.wh.file_started()
        earlier = ledger.files_with_hash(self.wh, file.sha256)
        pending = [f for f in earlier if f.path == file.relative and self._archive_missing(f)]
        if pending:
            return self._finish_move(file, pending[0])
        if any(f.status == "loaded" for f in earlier):
            return self._duplicate(file, earlier)
        record = self._record(file, None, "loaded", len(earlier))
        early: archive.Early | None = None
        try:
            if isinstance(routed, RoutingError):
                raise routed
            record.source = routed
            source = self.project.sources[record.source]
            archived = self.project.path("archive")
            early = archive.Early.start(file.path, archived, file.sha256, file.size)
            result = read_file(self.con, file.path, source.read, source.format)
            checkpoint("read")
            return self._load(file, record, source, result, early)
        except TransientError:
            raise
        except ReconciliationError as exc:
            return self._fail(record, str(exc))
        except FileError as exc:
            return self._reject(file, record, exc)
        except (TidegateError, duckdb.Error) as exc:
            return self._fail(record, _first_line(exc))
        finally:
            if early is not None:
                early.cancel()  # a no-op once the copy went to the archive

    def _peek(self, file: LandingFile, source: SourceConfig) -> list[str]:
        return peek_columns(file.path, source.read, source.format)

    def _record(
        self, file: LandingFile, source: str | None, status: str, seen: int | None = None
    ) -> FileRecord:
        """A ledger row for this delivery; ``seen``: earlier deliveries of its content."""
        if seen is None:
            file_id = ledger.next_file_id(self.wh, file.sha256)
        else:
            file_id = ledger.file_id(file.sha256, seen)
        return FileRecord(
            file_id=file_id,
            run_id=self.run_id,
            source=source,
            name=file.name,
            path=file.relative,
            size=file.size,
            sha256=file.sha256,
            status=status,
            started_at=now(),
        )

    def _load(
        self,
        file: LandingFile,
        record: FileRecord,
        source: SourceConfig,
        read: ReadResult,
        early: archive.Early | None,
    ) -> FileResult:
        assert record.source is not None
        record.format, record.encoding = read.format, read.encoding
        record.rows_read = read.rows + len(read.bad)
        missing = mapping.missing_columns(source, read.columns)
        if missing:
            raise MissingColumnsError(file.relative, missing, read.columns)
        new = self._new_columns(record.source, source, read)
        record.new_columns = json.dumps(new) if new else None
        if new and source.on_new_columns == "reject":
            raise FileError(
                file.relative, f"new columns {new} (the source says on_new_columns: reject)"
            )
        set_file_values(self.con, self._file_values(file, source))
        references = privacy.lookup(self.wh, self.project)
        if record.source not in self.plans:
            self.plans[record.source] = plan(read.table, source, self.project.targets)
        compiled = self.plans[record.source]
        outcome = evaluate(
            self.con, read.table, source, self.project.targets, references, compiled, read.rows
        )
        privacy.prepare(self.con, self.project, source, read, outcome)
        record.rows_quarantined = outcome.rows_quarantined + len(read.bad)
        record.rows_duplicate = outcome.rows_duplicate
        self._check_threshold(file, source, record)
        self._commit(file, record, source, read, outcome)
        checkpoint("committed")
        self._archive(file, record, early)
        checkpoint("archived")
        return _result(record, new)

    def _new_columns(self, name: str, source: SourceConfig, read: ReadResult) -> list[str]:
        """Columns no mapping reads and no earlier file of this source had."""
        known = self.wh.columns_of(name, self.wh.schemas.raw)
        if known is None:
            return []
        used = mapping.needed_columns(source)
        seen = {c.lower() for c in known} | {c.lower() for c in used}
        return [c for c in read.columns if c.lower() not in seen]

    def _file_values(self, file: LandingFile, source: SourceConfig) -> exp.Select:
        extra = dict(file.partitions)
        if source.name_pattern:
            match = re.search(source.name_pattern, file.name)
            if match:
                extra.update({k: v for k, v in match.groupdict().items() if v is not None})
        modified = datetime.fromtimestamp(file.mtime, UTC).replace(tzinfo=None)
        return mapping.file_values(file.name, file.relative, modified, extra)

    def _check_threshold(self, file: LandingFile, source: SourceConfig, record: FileRecord) -> None:
        targets = [self.project.targets[o.target] for o in source.outputs]
        for limit in (t.reject_file_over for t in targets if t.reject_file_over is not None):
            if _over(record.rows_quarantined, record.rows_read, limit):
                raise ThresholdError(
                    file.relative, record.rows_quarantined, record.rows_read, str(limit)
                )

    def _commit(
        self,
        file: LandingFile,
        record: FileRecord,
        source: SourceConfig,
        read: ReadResult,
        outcome: Outcome,
    ) -> None:
        """Raw layer, targets, quarantine and the ledger row, in one transaction, verified."""
        assert record.source is not None
        loaded_at = now()
        record.archive_path = self._stored(
            self._archive_destination(file, record.source, loaded_at)
        )
        with self.wh.transaction():
            if self.project.config.keep_raw:
                compute.write_raw(self.con, self.wh, record.source, read, record.file_id)
            self._apply_outputs(file, record, outcome, loaded_at)
            compute.write_quarantine(self.con, self.wh, record, read, outcome)
            privacy.committing(self.con, self.wh, self.project, record)
            record.finished_at = now()
            ledger.insert_file(self.wh, record)
            checkpoint("commit")

    def _apply_outputs(
        self, file: LandingFile, record: FileRecord, outcome: Outcome, loaded_at: datetime
    ) -> None:
        delivery = Delivery(record.file_id, file.relative, file.mtime, loaded_at, fresh=True)
        done = deliver(self.con, self.wh, self.project, outcome, delivery, file.relative)
        record.rows_unchanged = done.unchanged
        record.rows_duplicate += done.superseded
        record.rows_loaded = (
            record.rows_read - record.rows_quarantined - record.rows_duplicate - done.unchanged
        )
        _reconcile(file, record)

    # -- endings ----------------------------------------------------------------------

    def _archive_destination(self, file: LandingFile, source: str, when: datetime) -> Path:
        root = self.project.path("archive")
        return archive.archive_path(root, source, file.relative, file.sha256, when)

    def _stored(self, path: Path) -> str:
        """Paths in the ledger are relative to the project, so a project can move."""
        root = self.project.root.resolve()
        resolved = path.resolve()
        return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)

    def _resolved(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.project.root / path

    def _archive_missing(self, record: FileRecord) -> bool:
        return (
            record.status in ("loaded", "duplicate")
            and record.archive_path is not None
            and not self._resolved(record.archive_path).exists()
        )

    def _archive(
        self, file: LandingFile, record: FileRecord, early: archive.Early | None = None
    ) -> None:
        assert record.archive_path is not None
        archive.move(file.path, self._resolved(record.archive_path), early)
        privacy.archived(self.wh, self.project, record)

    def _finish_move(self, file: LandingFile, record: FileRecord) -> FileResult:
        """The file was committed but a crash kept it in landing: move it now."""
        self._archive(file, record)
        return _result(record, [])

    def _duplicate(self, file: LandingFile, earlier: list[FileRecord]) -> FileResult:
        original = next(f for f in earlier if f.status == "loaded")
        record = self._record(file, original.source, "duplicate", len(earlier))
        record.duplicate_of = original.file_id
        destination = self._archive_destination(file, original.source or "", record.started_at)
        record.archive_path = self._stored(destination)
        record.finished_at = now()
        with self.wh.transaction():
            ledger.insert_file(self.wh, record)
        self._archive(file, record)
        return _result(record, [])

    def _reject(self, file: LandingFile, record: FileRecord, exc: FileError) -> FileResult:
        destination = archive.rejected_path(
            self.project.path("rejected"), file.relative, file.sha256
        )
        record.status, record.error, record.finished_at = "rejected", exc.message, now()
        record.rows_loaded = record.rows_unchanged = 0
        record.archive_path = self._stored(destination)
        with self.wh.transaction():
            ledger.insert_file(self.wh, record)
        archive.move(file.path, destination)
        archive.write_reason(destination, exc.message)
        return _result(record, [])

    def _fail(self, record: FileRecord, error: str) -> FileResult:
        """An error of ours or of the warehouse: nothing committed, the file stays for a retry."""
        record.status, record.error, record.finished_at = "failed", error, now()
        record.rows_loaded = record.rows_unchanged = 0
        with self.wh.transaction():
            ledger.insert_file(self.wh, record)
        return _result(record, [])


def _over(bad: int, total: int, limit: str | int) -> bool:
    text = str(limit).strip()
    if text.endswith("%"):
        return total > 0 and bad * 100 > float(text[:-1]) * total
    return bad > int(text)


def _reconcile(file: LandingFile, record: FileRecord) -> None:
    counts = {
        "rows_read": record.rows_read,
        "rows_loaded": record.rows_loaded,
        "rows_unchanged": record.rows_unchanged,
        "rows_quarantined": record.rows_quarantined,
        "rows_duplicate": record.rows_duplicate,
    }
    parts = (
        record.rows_loaded + record.rows_unchanged + record.rows_quarantined + record.rows_duplicate
    )
    if record.rows_loaded < 0 or parts != record.rows_read:
        raise ReconciliationError(
            file.relative, counts, "read != loaded + unchanged + quarantined + duplicate"
        )


def _skipped(file: LandingFile, reason: str) -> FileResult:
    return FileResult(file.name, file.relative, None, "skipped", error=reason)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _result(record: FileRecord, new: list[str]) -> FileResult:
    return FileResult(
        name=record.name,
        path=record.path,
        source=record.source,
        status=record.status,
        file_id=record.file_id,
        rows_read=record.rows_read,
        rows_loaded=record.rows_loaded,
        rows_unchanged=record.rows_unchanged,
        rows_quarantined=record.rows_quarantined,
        rows_duplicate=record.rows_duplicate,
        error=record.error,
        new_columns=new,
    )


def run(project: Project, progress: Progress | None = None) -> RunResult:
    """Process every ready file of the project's landing folder."""
    with connect(project) as wh:
        return Pipeline(project, wh, progress).run()
