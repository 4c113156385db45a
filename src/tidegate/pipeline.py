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

Each file ends with exactly one ledger row, built at its ending from what its steps
learned (``Attempt``) and its ``FileContext``. Whatever a file raises, the run records it
and goes on: a problem of the file rejects it, anything else fails it (it stays in
landing), and transient warehouse or engine errors retry it first.
"""

from __future__ import annotations

import csv
import json
import logging
import uuid
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate import __version__, archive, compute, log, preview, schema
from tidegate.clock import utcnow as now
from tidegate.compute import failures, work
from tidegate.compute.engine import not_the_file
from tidegate.compute.reserved import rename_reserved, reserved_renames
from tidegate.compute.rows import write_quarantine, write_raw
from tidegate.config.models import Project, SourceConfig
from tidegate.deliver import Delivery, deliver
from tidegate.discover import LandingFile, route, scan
from tidegate.discover.context import FileContext, recorded
from tidegate.errors import (
    FileError,
    MissingColumnsError,
    ReadError,
    ReconciliationError,
    RoutingError,
    ThresholdError,
    TidegateError,
    TransientError,
    first_line,
)
from tidegate.faults import checkpoint
from tidegate.preview import Preview, RolledBack
from tidegate.privacy import hooks as privacy
from tidegate.progress import During, Watcher
from tidegate.read import ROW, ReadResult, peek_columns, read_file
from tidegate.read.result import Into
from tidegate.results import FileResult as FileResult  # re-exported: callers import both here
from tidegate.results import RunResult as RunResult
from tidegate.sql import data_type, table
from tidegate.sql_models import build_models
from tidegate.store import Store, locate, project_store
from tidegate.store.spool import Spool
from tidegate.transform import mapping
from tidegate.transform.evaluate import (
    Outcome,
    Plan,
    drop_work,
    evaluate,
    plan,
    set_file_values,
)
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.ledger import FileRecord, RunRecord
from tidegate.warehouse.load import FILE_ID

if TYPE_CHECKING:  # pulling imports httpx: only when a project has api: sources
    from tidegate.sources.api import PullResult

Progress = Callable[[FileResult], None]
Routed = str | RoutingError  # the file's source, or why it has none


# What a reader may raise on a file's content besides its own ReadError: the file is
# rejected with the reason, never the run stopped.
READ_MESSAGES: dict[type[Exception], str] = {
    RecursionError: "the file nests values too deeply to read",
    csv.Error: "the file cannot be read as CSV",
    UnicodeError: "the file's text cannot be decoded",
    OSError: "the file cannot be read",
    ValueError: "the file's content cannot be read",
}
READ_FAILURES = tuple(READ_MESSAGES)
GONE = "; the file left landing while it was loaded, so nothing was moved to rejected/"


@dataclass
class Tally:
    """A file's row counts: read = loaded + unchanged + quarantined + duplicate."""

    rows_read: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0


class ReadAgain(Exception):
    """The engine failed over a file read into the raw layer, in its transaction, which is
    now aborted: the file is read again into a temp table of its own, where the failing
    expression can be looked for (``failures.translate``)."""


@dataclass
class Held:
    """A file's transaction when its read opened it (reading into the raw layer), kept
    until its commit."""

    stack: ExitStack
    open: bool = False


@dataclass
class Attempt:
    """One delivery under way: what its steps learn, kept until its ending, where it
    becomes the file's one ledger row (``record``)."""

    file: LandingFile
    file_id: str
    run_id: str
    started_at: datetime
    context: FileContext
    source: str | None = None
    counts: Tally = field(default_factory=Tally)
    new_columns: list[str] = field(default_factory=list)
    raw_columns: dict[str, str] | None = None  # the raw layer's, before a read into it

    def record(
        self,
        status: str,
        *,
        error: str | None = None,
        archive_path: str | None = None,
        duplicate_of: str | None = None,
    ) -> FileRecord:
        counts = self.counts
        if status != "loaded":  # nothing of a rejected or failed file is in the targets
            counts = replace(counts, rows_loaded=0, rows_unchanged=0)
        if status == "duplicate":
            counts = Tally()
        context = self.context
        return FileRecord(
            file_id=self.file_id,
            run_id=self.run_id,
            source=self.source,
            name=context.name,
            path=context.path,
            size=context.size,
            sha256=context.sha256,
            status=status,
            started_at=self.started_at,
            finished_at=now(),
            **vars(counts),  # Tally holds ints only
            new_columns=json.dumps(self.new_columns) if self.new_columns else None,
            error=error,
            archive_path=archive_path,
            duplicate_of=duplicate_of,
            format=context.format,
            encoding=context.encoding,
            modified_at=context.modified,
            context=context.to_json(),
        )


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

    def __init__(
        self,
        project: Project,
        wh: Warehouse,
        progress: Progress | None = None,
        dry_run: bool = False,
        during: During | None = None,
        *,
        sources: Collection[str] | None = None,
    ) -> None:
        self.project = project
        self.sources = sources  # only the files routed to these (None: every file)
        self.wh = wh
        self.progress = progress  # told as each file ends
        self.during = during  # told how far a large file is, while it is read and loaded
        self.dry_run = dry_run  # every step, each file's transaction rolled back, no move
        self.run_id = uuid.uuid4().hex
        self.con = compute.engine(wh, project)
        self.plans: dict[str, Plan] = {}  # each source's SQL, rendered once per run
        self.landing = project_store(project, "landing")
        self.archived = project_store(project, "archive")
        self.rejected = project_store(project, "rejected")
        self.spool = Spool(project.root / ".tidegate" / "spool")  # objects' local copies
        self._folders: dict[Path, Path] = {}  # local folders as resolved, for _stored

    # -- the run ----------------------------------------------------------------------

    def run(self) -> RunResult:
        started = now()
        if not self.dry_run:  # every table exists, and no change of a contract is unsafe
            schema.prepare(self.wh, self.project, self.run_id)
        for store in (self.landing, self.archived, self.rejected):
            store.check()  # no bucket, refused credentials: stop before any file is taken
        self.spool.sweep()
        try:
            return self._run(started)
        finally:
            self.spool.close()

    def _run(self, started: datetime) -> RunResult:
        files = scan(self.landing, self.project.config.settle_seconds, self.spool)
        if not self.dry_run:
            self._start_run(started, recorded=bool(files))
        log.event("run started", run_id=self.run_id, files=len(files), dry_run=self.dry_run)
        ordered = self._in_dependency_order(files)
        if self.sources is not None:  # an orchestrator's selection: other files wait
            ordered = [(f, routed) for f, routed in ordered if routed in self.sources]
        results = self._each(ordered)
        if not self.dry_run:
            self.landing.prune()
            with self.wh.transaction():
                build_models(self.wh, self.project)
            self._finish_run(results)
            privacy.finished(self.wh, self.project)  # the erased values' bytes, once a run
        statuses = {
            s: sum(1 for r in results if r.status == s) for s in {r.status for r in results}
        }
        seconds = round((now() - started).total_seconds(), 3)
        log.event("run finished", run_id=self.run_id, seconds=seconds, **statuses)
        return RunResult(self.run_id, results)

    def _each(self, ordered: list[tuple[LandingFile, Routed]]) -> list[FileResult]:
        """Every file's ending, in order: small files of one source together (a batch,
        ``microbatch.py``), any other alone."""
        from tidegate import microbatch

        groups = microbatch.groups(self, ordered)
        return [result for group in groups for result in microbatch.run_group(self, group)]

    def _start_run(self, started: datetime, recorded: bool) -> None:
        """Mark the runs whose process died as interrupted, and record this one only when
        it has files to process: a watch's idle heartbeats leave no rows."""
        with self.wh.transaction():
            ledger.ensure(self.wh)
        ledger.mark_interrupted(self.wh, self.run_id)
        if recorded:
            ledger.start_run(self.wh, RunRecord(self.run_id, started, version=__version__))

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
        for file, source in routed:
            log.event("discovered", file=file.relative, source=_source_of(source), size=file.size)
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
            if not file.present():  # another run took it between our scan and our lock
                return _skipped(file, "another run has loaded it")
            result = self._recorded(file, routed)
        finally:
            self.wh.unlock(file.sha256)
            self.spool.release(file.path)
        if self.progress:
            self.progress(result)
        return result

    def _recorded(self, file: LandingFile, routed: Routed) -> FileResult:
        """The file's ending; a failure outside its own steps (the ledger could not be read,
        an archive move failed) is recorded too, so the run goes on to the next file."""
        try:
            return self._with_retries(file, routed)
        except Exception as exc:
            try:
                return self._fail(self._attempt(file, _source_of(routed), None), _described(exc))
            except Exception:  # the ledger itself is out of reach: report, unrecorded
                source = _source_of(routed)
                return FileResult(file.name, file.relative, source, "failed", error=_described(exc))

    def _with_retries(self, file: LandingFile, routed: Routed) -> FileResult:
        """Transient errors retry the whole file; each attempt re-reads the ledger."""
        try:
            return self.wh.retry(lambda: self.process(file, routed))
        except TransientError as exc:
            return self._fail(self._attempt(file, _source_of(routed), None), first_line(exc))

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
        """Load one file, or reject it, or record why it failed; never half of it."""
        self.wh.file_started()
        earlier = self._earlier(file)
        pending = [f for f in earlier if f.path == file.relative and self._archive_missing(f)]
        if pending:
            if self.dry_run:
                return _skipped(file, "loaded before; a run would finish its move to the archive")
            return self._finish_move(file, pending[0])
        left = [f for f in earlier if self._left_behind(f, file)]
        if left:
            if self.dry_run:
                return _skipped(file, "loaded and archived before; a run would remove it")
            file.origin.delete(file.relative)
            return _result(left[0], [])
        if any(f.status == "loaded" for f in earlier):
            return self._duplicate(file, earlier)
        attempt = self._attempt(file, _source_of(routed), len(earlier))
        early: archive.Early | None = None
        watcher = Watcher.start(self.con, self.during, file.relative, file.size)
        try:
            if isinstance(routed, RoutingError):
                raise routed
            source = self.project.sources[routed]
            if not self.dry_run:
                early = archive.Early.start(file, self.archived)
            try:
                return self._read_and_load(attempt, source, early, watcher, into_raw=True)
            except ReadAgain:  # the engine failed inside the read's transaction
                drop_work(self.con)
                return self._read_and_load(attempt, source, early, watcher, into_raw=False)
        except TransientError:
            raise
        except Exception as exc:  # whatever one file does, it is recorded and the run goes on
            return self._ending(attempt, exc)
        finally:
            if watcher is not None:
                watcher.stop()
            if early is not None:
                early.cancel()  # a no-op once the copy went to the archive
            drop_work(self.con)

    def _earlier(self, file: LandingFile) -> list[FileRecord]:
        """Earlier deliveries of the file's content (a dry run may find no ledger yet)."""
        if self.dry_run and self.wh.columns_of(ledger.FILES, self.wh.schemas.meta) is None:
            return []
        return ledger.files_with_hash(self.wh, file.sha256)

    def _attempt(self, file: LandingFile, source: str | None, seen: int | None) -> Attempt:
        """A new delivery of this file; ``seen``: earlier deliveries of its content."""
        if seen is None:
            file_id = ledger.next_file_id(self.wh, file.sha256)
        else:
            file_id = ledger.file_id(file.sha256, seen)
        config = self.project.sources.get(source) if source else None
        context = FileContext.of(file, config)
        return Attempt(file, file_id, self.run_id, now(), context, source)

    def _peek(self, file: LandingFile, source: SourceConfig) -> list[str]:
        return peek_columns(file.path, source.read, source.format)

    def _read_and_load(
        self,
        attempt: Attempt,
        source: SourceConfig,
        early: archive.Early | None,
        watcher: Watcher | None,
        *,
        into_raw: bool,
    ) -> FileResult:
        """Read, check, commit and archive; with ``into_raw`` the read may go straight into
        the raw layer, in the file's transaction (``_into``), rolled back on any error."""
        with ExitStack() as stack:
            held = Held(stack)
            into = self._into(attempt, source, held) if into_raw else None
            result = self._read(attempt.file, source, into)
            checkpoint("read")
            if watcher is not None:
                watcher.loading(result.rows)
            return self._load(attempt, source, result, early, held if held.open else None)

    def _into(self, attempt: Attempt, source: SourceConfig, held: Held) -> Into | None:
        """Where a read may put the file's records besides a temp table: the raw layer,
        when the engine is the warehouse's own connection and the raw layer keeps the
        records as read (no reserved column renamed, no ``raw_pii: protect`` policy on a
        column: those change the read table in place before the raw layer is written).
        The file's transaction opens as the reader takes that way (after sniffing, before
        the first record), and ``held`` keeps it until the commit: no row of the file is
        visible, nor survives a crash or a rejection, before its ledger row commits."""
        keep_raw = self.project.config.keep_raw
        if self.dry_run or not keep_raw or not self.wh.READS_INTO_RAW:
            return None
        name, raw = attempt.source, self.wh.schemas.raw
        assert name is not None

        def prepare(columns: list[str]) -> bool:
            if reserved_renames(columns):  # renamed in a temp table first (rename_reserved)
                return False
            if not privacy.raw_as_read(self.project, source, columns):
                return False  # protected in a temp table first (privacy.prepare)
            if not held.open:
                held.stack.enter_context(self.wh.transaction())
                held.open = True
                attempt.raw_columns = self.wh.columns_of(name, raw)
            lineage = [(FILE_ID, data_type("varchar")), (ROW, data_type("bigint"))]
            self.wh.ensure_raw(name, lineage + [(c, data_type("varchar")) for c in columns])
            return True

        return Into(table(name, raw), FILE_ID, attempt.file_id, prepare)

    def _read(self, file: LandingFile, source: SourceConfig, into: Into | None) -> ReadResult:
        """The file read into the engine; whatever a reader raises on the file's content
        (a field over the CSV limit, nesting past the recursion limit, the file gone) is a
        ``ReadError`` naming the file."""
        with log.step("read", file=file.relative) as counts:
            try:
                read = read_file(self.con, file.path, source.read, source.format, into=into)
            except TidegateError:
                raise
            except (*READ_FAILURES, *self.con.errors) as exc:
                if not_the_file(self.con, exc):  # out of memory, a conflict: failed or retried
                    raise self.con.translate(exc, file.relative) from exc
                raise ReadError(file.relative, _read_failure(exc)) from exc
            counts.update(rows=read.rows, bad_lines=len(read.bad), format=read.format)
        return read

    def _load(
        self,
        attempt: Attempt,
        source: SourceConfig,
        read: ReadResult,
        early: archive.Early | None,
        held: Held | None = None,
    ) -> FileResult:
        """Check, then commit (in ``held``, the transaction the read opened, when there is
        one), then archive."""
        file, name = attempt.file, attempt.source
        assert name is not None
        read, renamed = rename_reserved(self.con, read)
        attempt.context = attempt.context.with_read(
            read.format, read.encoding, read.dialect, renamed
        )
        attempt.counts.rows_read = read.records
        missing = mapping.missing_columns(source, read.columns)
        if missing:
            raise MissingColumnsError(file.relative, missing, read.columns)
        attempt.new_columns = self._new_columns(name, source, read, attempt)
        if attempt.new_columns and source.on_new_columns == "reject":
            raise FileError(
                file.relative,
                f"new columns {attempt.new_columns} (the source says on_new_columns: reject)",
            )
        outcome = self._evaluate(attempt, source, read)
        privacy.prepare(self.con, self.project, source, read, outcome)
        attempt.counts.rows_quarantined = outcome.rows_quarantined + len(read.bad)
        attempt.counts.rows_duplicate = outcome.rows_duplicate
        log.event(
            "checked",
            file=file.relative,
            quarantined=attempt.counts.rows_quarantined,
            duplicate=attempt.counts.rows_duplicate,
            new_columns=len(attempt.new_columns),
        )
        self._check_threshold(file, source, attempt.counts)
        if self.dry_run:
            return self._preview(attempt, read, outcome)
        with log.step("loaded", file=file.relative, file_id=attempt.file_id) as counts:
            record = self._commit(attempt, read, outcome, held)
            counts.update(rows=record.rows_loaded, unchanged=record.rows_unchanged)
        checkpoint("committed")
        with log.step("archived", file=file.relative, file_id=attempt.file_id):
            self._archive(file, record, early)
        checkpoint("archived")
        return _result(record, attempt.new_columns)

    def _preview(self, attempt: Attempt, read: ReadResult, outcome: Outcome) -> FileResult:
        """The file's commit, measured and rolled back."""
        names = list(dict.fromkeys(o.target for o, _ in outcome.outputs))
        offered = {name: 0 for name in names}
        for output, good in outcome.outputs:
            offered[output.target] += work.count(self.con, good)
        try:
            with self.wh.transaction():
                ledger.ensure(self.wh)
                before = preview.census(self.wh, self.project, names, attempt.file_id)
                record = self._commit_steps(attempt, read, outcome)
                after = preview.census(self.wh, self.project, names, attempt.file_id)
                targets = self.project.targets
                changes = [
                    preview.change(n, targets[n], before[n], after[n], offered[n]) for n in names
                ]
                reasons = preview.reasons(self.wh, attempt.file_id)
                raise RolledBack(record, Preview(changes, reasons))
        except RolledBack as done:
            result = _result(done.record, attempt.new_columns)
            result.preview = done.preview
            return result

    def _evaluate(self, attempt: Attempt, source: SourceConfig, read: ReadResult) -> Outcome:
        name = attempt.source
        assert name is not None
        set_file_values(self.con, attempt.context.values())
        references = privacy.lookup(self.wh, self.project)
        if name not in self.plans:
            self.plans[name] = plan(read.table, source, self.project.targets, self.con.dialect)
        try:
            return evaluate(
                self.con,
                read.table,
                source,
                self.project.targets,
                references,
                self.plans[name],
                read.rows,
                store=read.in_raw,  # no copy of the file in memory: the typed rows are one
            )
        except self.con.errors as exc:
            if read.in_raw:  # the transaction is aborted: the culprit is sought over a
                raise ReadAgain(attempt.file.relative) from exc  # read of its own
            problem = failures.translate(
                exc, self.con, self.project, name, read.table, attempt.file.relative
            )
            raise problem from exc

    def _new_columns(
        self, name: str, source: SourceConfig, read: ReadResult, attempt: Attempt | None = None
    ) -> list[str]:
        """Columns no mapping reads and no earlier file of this source had (the raw layer's
        columns before the attempt's read, when the read wrote into it)."""
        if attempt is not None and read.in_raw:
            known = attempt.raw_columns
        else:
            known = self.wh.columns_of(name, self.wh.schemas.raw)
        if known is None:
            return []
        used = mapping.needed_columns(source)
        seen = {c.lower() for c in known} | {c.lower() for c in used}
        return [c for c in read.columns if c.lower() not in seen]

    def _check_threshold(self, file: LandingFile, source: SourceConfig, counts: Tally) -> None:
        targets = [self.project.targets[o.target] for o in source.outputs]
        for limit in (t.reject_file_over for t in targets if t.reject_file_over is not None):
            if _over(counts.rows_quarantined, counts.rows_read, limit):
                raise ThresholdError(
                    file.relative, counts.rows_quarantined, counts.rows_read, str(limit)
                )

    def _commit(
        self, attempt: Attempt, read: ReadResult, outcome: Outcome, held: Held | None
    ) -> FileRecord:
        """Raw layer, targets, quarantine and the ledger row, in one transaction, verified:
        the one the read opened (``held``), or a new one."""
        if held is None:
            with self.wh.transaction():
                record = self._commit_steps(attempt, read, outcome)
                checkpoint("commit")
                drop_work(self.con)
            return record
        record = self._commit_steps(attempt, read, outcome)
        checkpoint("commit")
        drop_work(self.con)  # before the commit: its writes need the memory the work held
        held.open = False
        held.stack.close()  # COMMIT
        return record

    def _commit_steps(self, attempt: Attempt, read: ReadResult, outcome: Outcome) -> FileRecord:
        """What one file's transaction holds (a run commits it, a dry run rolls it back)."""
        name = attempt.source
        assert name is not None
        loaded_at = now()
        attempt.context = attempt.context.loaded(loaded_at)
        destination = self._archive_destination(attempt.file, name, loaded_at)
        if self.project.config.keep_raw and not read.in_raw:
            write_raw(self.con, self.wh, name, read, attempt.file_id)
        self._apply_outputs(attempt, outcome, loaded_at)
        record = attempt.record("loaded", archive_path=self._stored(self.archived, destination))
        write_quarantine(self.con, self.wh, record, read, outcome)
        privacy.committing(self.con, self.wh, self.project, record)
        ledger.insert_file(self.wh, record)
        return record

    def _apply_outputs(self, attempt: Attempt, outcome: Outcome, loaded_at: datetime) -> None:
        delivery = Delivery(attempt.file_id, attempt.context, loaded_at, fresh=True)
        label = attempt.file.relative
        done = deliver(self.con, self.wh, self.project, outcome, delivery, label)
        counts = attempt.counts
        counts.rows_unchanged = done.unchanged
        counts.rows_duplicate += done.superseded
        counts.rows_loaded = (
            counts.rows_read - counts.rows_quarantined - counts.rows_duplicate - done.unchanged
        )
        _reconcile(label, counts)

    # -- endings ----------------------------------------------------------------------

    def _archive_destination(self, file: LandingFile, source: str, when: datetime) -> str:
        return archive.archive_key(self.archived, source, file.relative, file.sha256, when)

    def _stored(self, store: Store, key: str) -> str:
        """Where a file went, as the ledger keeps it: a URL, or a local path relative to
        the project, so a project can move."""
        path = store.local_path(key)
        if path is None:
            return store.location(key)
        root = self._resolved(self.project.root)
        resolved = self._resolved(path.parent) / path.name  # a batch's files share folders
        return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)

    def _resolved(self, folder: Path) -> Path:
        if folder not in self._folders:
            self._folders[folder] = folder.resolve()
        return self._folders[folder]

    def _archive_missing(self, record: FileRecord) -> bool:
        if record.status not in ("loaded", "duplicate") or record.archive_path is None:
            return False
        store, key = locate(self.project, record.archive_path)
        return not store.exists(key)

    def _left_behind(self, record: FileRecord, file: LandingFile) -> bool:
        """The landing copy of a file whose archive copy is whole: a move that copies was
        cut between the copy and the delete. The ledger row says it is this very file
        (same path, size and mtime), not a later re-delivery of the same content."""
        if record.path != file.relative or self._archive_missing(record):
            return False
        if record.status not in ("loaded", "duplicate") or record.archive_path is None:
            return False
        context = recorded(record, None)
        return context.size == file.size and context.mtime == file.mtime

    def _archive(
        self, file: LandingFile, record: FileRecord, early: archive.Early | None = None
    ) -> None:
        assert record.archive_path is not None
        store, key = locate(self.project, record.archive_path)
        archive.move(file, store, key, early)
        privacy.archived(self.wh, self.project, record)

    def _finish_move(self, file: LandingFile, record: FileRecord) -> FileResult:
        """The file was committed but a crash kept it in landing: move it now."""
        self._archive(file, record)
        return _result(record, [])

    def _duplicate(self, file: LandingFile, earlier: list[FileRecord]) -> FileResult:
        original = next(f for f in earlier if f.status == "loaded")
        attempt = self._attempt(file, original.source, len(earlier))
        destination = self._archive_destination(file, original.source or "", attempt.started_at)
        stored = self._stored(self.archived, destination)
        record = attempt.record("duplicate", archive_path=stored, duplicate_of=original.file_id)
        if self.dry_run:
            return _result(record, [])
        with self.wh.transaction():
            ledger.insert_file(self.wh, record)
        self._archive(file, record)
        return _result(record, [])

    def _ending(self, attempt: Attempt, exc: Exception) -> FileResult:
        """A file-level data problem rejects the file; anything else fails it (it stays in
        landing for the next run), and only a bug of tidegate's says "internal error"."""
        if isinstance(exc, FileError) and not isinstance(exc, ReconciliationError):
            return self._reject(attempt, exc)
        if isinstance(exc, ReconciliationError):
            return self._fail(attempt, str(exc))
        return self._fail(attempt, _described(exc))

    def _reject(self, attempt: Attempt, exc: FileError) -> FileResult:
        file = attempt.file
        destination = archive.rejected_key(self.rejected, file.relative, file.sha256)
        gone = not file.present()  # deleted while it was read: nothing left to move
        reason = exc.message + (GONE if gone else "")
        stored = None if gone else self._stored(self.rejected, destination)
        record = attempt.record("rejected", error=reason, archive_path=stored)
        _log_ending(record)
        if self.dry_run:
            return _result(record, [])
        with self.wh.transaction():
            ledger.insert_file(self.wh, record)
        if not gone:
            try:
                archive.move(file, self.rejected, destination)
            except FileNotFoundError:  # it left landing between our look and the move
                return _result(record, [])
            archive.write_reason(self.rejected, destination, reason)
        return _result(record, [])

    def _fail(self, attempt: Attempt, error: str) -> FileResult:
        """An error of the project, the engine, the warehouse or tidegate: nothing committed,
        the file stays in landing for a retry."""
        record = attempt.record("failed", error=error)
        _log_ending(record)
        if self.dry_run:
            return _result(record, [])
        with self.wh.transaction():
            ledger.insert_file(self.wh, record)
        return _result(record, [])


def _log_ending(record: FileRecord) -> None:
    """A file that did not load, with its reason (the values it quotes masked)."""
    log.event(
        record.status,
        logging.WARNING,
        file=record.path,
        source=record.source,
        reason=log.mask_values(record.error or ""),
    )


def _over(bad: int, total: int, limit: str | int) -> bool:
    text = str(limit).strip()
    if text.endswith("%"):
        return total > 0 and bad * 100 > float(text[:-1]) * total
    return bad > int(text)


def _reconcile(label: str, counts: Tally) -> None:
    parts = counts.rows_loaded + counts.rows_unchanged + counts.rows_quarantined
    if counts.rows_loaded < 0 or parts + counts.rows_duplicate != counts.rows_read:
        raise ReconciliationError(
            label, asdict(counts), "read != loaded + unchanged + quarantined + duplicate"
        )


def _source_of(routed: Routed) -> str | None:
    return routed if isinstance(routed, str) else None


def _skipped(file: LandingFile, reason: str) -> FileResult:
    return FileResult(file.name, file.relative, None, "skipped", error=reason)


def _described(exc: BaseException) -> str:
    """One line for a file's failure: tidegate's own errors as they are; anything else is
    a bug of tidegate's and says so."""
    if isinstance(exc, TidegateError):
        return first_line(exc)
    return f"internal error: {type(exc).__name__}: {first_line(exc)}"


def _read_failure(exc: BaseException) -> str:
    for kind, what in READ_MESSAGES.items():
        if isinstance(exc, kind):
            return f"{what} ({type(exc).__name__}: {first_line(exc)})"
    return f"the file cannot be read ({type(exc).__name__}: {first_line(exc)})"  # the engine's


def _result(record: FileRecord, new: list[str]) -> FileResult:
    """What ``run`` reports of a file: its ledger row's own fields, and its new columns."""
    shared = {f.name for f in fields(FileResult)} - {"new_columns", "preview"}
    return FileResult(**{name: getattr(record, name) for name in shared}, new_columns=new)


def run(
    project: Project,
    progress: Progress | None = None,
    dry_run: bool = False,
    during: During | None = None,
    *,
    sources: Collection[str] | None = None,
) -> RunResult:
    """Process every ready file of the project's landing folder (of ``sources`` only, when
    given), then tell the project's ``notify:`` channels what went wrong, if anything.
    With ``dry_run``, report what it would do and change nothing (and tell nobody).
    ``progress`` hears of each file as it ends, ``during`` how far a large file is."""
    try:
        with connect(project) as wh:
            pulls = [] if dry_run else pull_api_sources(project, wh, sources)
            result = Pipeline(project, wh, progress, dry_run, during, sources=sources).run()
            result.pulls = pulls
    except TidegateError as exc:
        if not dry_run:
            _notify(project, None, exc)
        raise
    if not dry_run:
        _notify(project, result)
    return result


def pull_api_sources(
    project: Project, wh: Warehouse, sources: Collection[str] | None
) -> list[PullResult]:
    """Pull the ``api:`` sources (of ``sources``, when given) into landing before loading."""
    pulled = [n for n, s in project.sources.items() if s.api is not None]
    if not pulled:
        return []
    from tidegate.sources import pull_with

    return pull_with(project, wh, None if sources is None else [n for n in pulled if n in sources])


def _notify(project: Project, result: RunResult | None, error: Exception | None = None) -> None:
    from tidegate import notify

    if result is None and error is not None:
        notify.run_failed(project, error)
    elif result is not None:
        result.notifications = notify.after_run(project, result)
