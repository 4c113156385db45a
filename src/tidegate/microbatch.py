"""Many small files of one source, loaded together: one read table, one check, one write
per target, one transaction; still one ledger row, quarantine and archive move per file.

A run spends most of a small file's time on statements every file repeats (create the
work tables, check, write, count, the ledger row), not on its rows. Consecutive files of
one source in landing order, each at most ``BATCH_BYTES``, form a batch:

    lock and look up        every file's content hash at once; a file seen before (to
                            finish its archive move, to record a duplicate) and a second
                            copy of a content in the batch go the one-file way, after it
    read                    each file alone (``read/many.py``): an unreadable file is
                            rejected alone; files that read to the same columns combine
    check columns           per file: missing mapped columns reject that file
    map and check           one query over the batch; duplicate keys settle per file
    threshold               per file: a file over it is rejected and taken out, the
                            others are checked again without it
    one transaction         raw layer, one write per target, quarantine, one ledger row
                            per file, every file's counts verified against the warehouse
    archive                 file by file, each after the commit

Whatever fails in the check or the transaction without naming its file (an engine error
over the batch's rows, a count that does not add up, a transient error), every file of
the batch goes the one-file way instead, so one bad file never costs the others.

Only files whose every output appends may share a batch: their rows are independent of
each other's, so one write of all gives what one write each would. A replace target is a
snapshot, which each file of a batch would overwrite in turn and report as loaded; a
merge or scd2 target settles a key against the versions before it, and a target with
references checks keys against rows loaded before it, so their results depend on each
earlier file being committed first: those files load one at a time, in landing order.
Sources with personal data (privacy) also load one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from tidegate import archive, log
from tidegate.clock import utcnow as now
from tidegate.compute.engine import Engine
from tidegate.compute.reserved import rename_reserved, reserved_renames
from tidegate.compute.rows import _record_json, _unreadable
from tidegate.config.models import Project, SourceConfig
from tidegate.discover import LandingFile
from tidegate.errors import (
    FileError,
    MissingColumnsError,
    ReadError,
    ReconciliationError,
    TidegateError,
    first_line,
)
from tidegate.faults import checkpoint
from tidegate.privacy.context import Privacy
from tidegate.read.many import (
    STRIDE,
    Piece,
    PlainText,
    combine,
    drop_lines,
    file_of_row,
    plain_text,
    read_lines,
    read_piece,
    row_in_file,
)
from tidegate.read.result import ReadResult
from tidegate.sql import col, data_type, lit, table
from tidegate.transform import mapping
from tidegate.transform.evaluate import (
    BAD,
    DUPLICATE,
    Outcome,
    drop_work,
    evaluate,
    plan,
)
from tidegate.transform.mapping import FILE, FILE_CTE, REASONS, ROW
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.batch import FILE_ID, LOADED_AT
from tidegate.warehouse.ledger import FileRecord
from tidegate.warehouse.load import ensure_target

if TYPE_CHECKING:
    from tidegate.pipeline import Attempt, FileResult, Pipeline, Routed

BATCH_BYTES = 1 << 20  # a larger file keeps the one-file path (its progress, its early archive)
BATCH_TOTAL = 64 << 20  # bytes per batch at most: the records of a batch are held together
ROWS = "_tg_batch_rows"  # the batch's records as read (raw layer, quarantine)
FILES = "_tg_batch_files"  # one row per file: number, file id, started_at, _file
NUMBER = "_tg_no"
SEEN = ("loaded", "duplicate")  # an earlier delivery that sends a file the one-file way


def batchable(project: Project, wh: Warehouse, name: str) -> bool:
    """Whether files of source ``name`` may share a batch (see the module docstring)."""
    source = project.sources[name]
    targets = [project.targets[o.target] for o in source.outputs]
    appends = all(t.load == "append" and not t.references for t in targets)
    return appends and wh.SUPPORTS_TRANSACTIONS and not Privacy.of(project).active


def groups(
    pipeline: Pipeline, ordered: Sequence[tuple[LandingFile, Routed]]
) -> Iterator[list[tuple[LandingFile, Routed]]]:
    """The files in order, as runs that may load together (a run of one loads alone)."""
    current: list[tuple[LandingFile, Routed]] = []
    size = 0
    for file, routed in ordered:
        joins = _may_batch(pipeline, file, routed)
        fits = bool(current) and current[0][1] == routed and size + file.size <= BATCH_TOTAL
        room = len(current) < pipeline.project.config.batch_files
        if current and not (joins and fits and room):
            yield current
            current, size = [], 0
        current.append((file, routed))
        size += file.size
        if not joins:
            yield current
            current, size = [], 0
    if current:
        yield current


def _may_batch(pipeline: Pipeline, file: LandingFile, routed: Routed) -> bool:
    if pipeline.dry_run or not isinstance(routed, str) or file.size > BATCH_BYTES:
        return False
    return batchable(pipeline.project, pipeline.wh, routed)


@dataclass
class Member:
    """One file of a batch: its delivery under way, and its records once read."""

    attempt: Attempt
    piece: Piece | None = None
    number: int = -1  # its file number in the batch's rows, once combined
    result: FileResult | None = None  # its ending, once it has one

    @property
    def file(self) -> LandingFile:
        return self.attempt.file

    @property
    def read(self) -> ReadResult:
        assert self.piece is not None
        return self.piece.result


@dataclass
class Batch:
    """Files of one source loaded together; ``run`` gives each its ``FileResult``."""

    pipeline: Pipeline
    name: str
    files: list[LandingFile]
    later: list[LandingFile] = field(default_factory=list)  # the one-file way, after
    members: list[Member] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # of the combined records

    @property
    def source(self) -> SourceConfig:
        return self.pipeline.project.sources[self.name]

    def run(self) -> list[FileResult]:
        from tidegate.pipeline import _skipped

        pipe = self.pipeline
        results: dict[str, FileResult] = {}
        held: list[LandingFile] = []
        hashes: set[str] = set()
        try:
            for file in self.files:
                if file.sha256 in hashes:
                    self.later.append(file)  # its lock is already held, by its first copy
                elif not pipe.wh.lock(file.sha256):
                    results[file.relative] = _skipped(file, "another run is loading it")
                elif not file.present():
                    pipe.wh.unlock(file.sha256)
                    results[file.relative] = _skipped(file, "another run has loaded it")
                else:
                    held.append(file)
                    hashes.add(file.sha256)
            results.update(self._held(held))
        finally:
            for file in held:
                pipe.wh.unlock(file.sha256)
            for file in self.files:
                pipe.spool.release(file.path)
        ended = [results[file.relative] for file in self.files]
        if pipe.progress:
            for result in ended:
                pipe.progress(result)
        return ended

    def _held(self, files: list[LandingFile]) -> dict[str, FileResult]:
        """The locked files: the batch, then the files that go the one-file way."""
        pipe = self.pipeline
        results: dict[str, FileResult] = {}
        try:
            self._members(files)
            self._loaded(self.members)
        except Exception as exc:  # the ledger out of reach, or a bug: each file on its own
            log.event("batch split", source=self.name, reason=first_line(exc))
            ended = {m.file.relative for m in self.members if m.result is not None}
            waiting = {f.relative for f in self.later}
            self.later += [f for f in files if f.relative not in ended | waiting]
        for member in self.members:
            if member.result is not None:
                results[member.file.relative] = member.result
        order = {file.relative: index for index, file in enumerate(self.files)}
        for file in sorted(self.later, key=lambda f: order[f.relative]):  # in landing order
            results[file.relative] = pipe._recorded(file, self.name)
        return results

    def _members(self, files: list[LandingFile]) -> None:
        pipe = self.pipeline
        pipe.wh.file_started()
        earlier = ledger.files_with_hashes(pipe.wh, [f.sha256 for f in files])
        for file in files:
            seen = earlier[file.sha256]
            if any(f.status in SEEN for f in seen):
                self.later.append(file)
            else:
                self.members.append(Member(pipe._attempt(file, self.name, len(seen))))

    # -- the batch ----------------------------------------------------------------

    def _loaded(self, members: list[Member]) -> None:
        """Every member ends, or is sent the one-file way (``later``)."""
        try:
            self._read_together(members)
            for member in members:
                self._read(member)
            for run in _same_shape([m for m in members if m.result is None]):
                self._load(run)
                # The next run starts clean: its outputs may be views where these were tables.
                drop_work(self.pipeline.con)
        finally:
            drop_work(self.pipeline.con)
            drop_lines(self.pipeline.con)
            self.pipeline.con.drop(ROWS, FILES)
            pieces = [m.piece for m in members if m.piece is not None]
            self.pipeline.con.drop(*[p.result.table for p in pieces if p.in_table])

    def _read_together(self, members: list[Member]) -> None:
        """The small JSON Lines files read and checked in one go (``read_lines``). A file
        that must be read alone keeps no piece: ``_read`` reads it, and a file whose text
        cannot be read fails there, as the one-file path explains and logs it."""
        con, source = self.pipeline.con, self.source
        texts: list[tuple[Member, PlainText]] = []
        for member in members:
            try:
                text = plain_text(con, member.file.path, source.read, source.format)
            except Exception:  # read alone, where the failure is told
                continue
            if text is not None:
                texts.append((member, text))
        if not texts:
            return
        try:
            pieces = read_lines(con, [text for _, text in texts])
        except con.errors as exc:  # names no file: each is read alone
            log.event("batch read split", source=self.name, reason=first_line(exc))
            return
        for (member, _), piece in zip(texts, pieces, strict=True):
            member.piece = piece

    def _read(self, member: Member) -> None:
        """A member's read, alone when it was not read with others, as the one-file path
        reads: what a reader raises on the file's content rejects it, anything else fails
        it (``Pipeline._read``)."""
        from tidegate.pipeline import READ_FAILURES, _read_failure

        pipe, file = self.pipeline, member.file
        source = self.source
        try:
            with log.step("read", file=file.relative) as counts:
                if member.piece is None:
                    try:
                        member.piece = read_piece(pipe.con, file.path, source.read, source.format)
                    except TidegateError:
                        raise
                    except (*READ_FAILURES, *pipe.con.errors) as exc:
                        raise ReadError(file.relative, _read_failure(exc)) from exc
                read = member.read
                counts.update(rows=read.rows, bad_lines=len(read.bad), format=read.format)
        except Exception as exc:
            member.result = pipe._ending(member.attempt, exc)
            return
        checkpoint("read")

    def _load(self, run: list[Member]) -> None:
        """Files of one shape: checked, the rejected taken out, the rest committed."""
        for member in run:
            self._check_columns(member)
        kept = [m for m in run if m.result is None]
        if not kept:
            return
        self._combine(kept)
        outcome = self._evaluated(kept)
        if outcome is None:
            return
        over = [m for m in kept if self._over_threshold(m)]
        if over:
            kept = [m for m in kept if m.result is None]
            self._take_out(over)
            if not kept or (outcome := self._evaluated(kept)) is None:
                return
        self._commit(kept, outcome)

    def _check_columns(self, member: Member) -> None:
        """A file that lacks a mapped column, or brings new ones a source refuses, is
        rejected alone (its table dropped: it takes no part in the batch)."""
        source, read = self.source, member.read
        attempt = member.attempt
        attempt.counts.rows_read = read.records
        renames = reserved_renames(read.columns)
        columns = [renames.get(c, c) for c in read.columns]
        attempt.context = attempt.context.with_read(
            read.format, read.encoding, read.dialect, renames
        )
        try:
            missing = mapping.missing_columns(source, columns)
            if missing:
                raise MissingColumnsError(member.file.relative, missing, columns)
            renamed = ReadResult("", columns, read.rows, [], read.format, read.encoding, {})
            attempt.new_columns = self.pipeline._new_columns(self.name, source, renamed)
            if attempt.new_columns and source.on_new_columns == "reject":
                raise FileError(
                    member.file.relative,
                    f"new columns {attempt.new_columns} (the source says on_new_columns: reject)",
                )
        except FileError as exc:
            member.result = self.pipeline._ending(attempt, exc)
            if member.piece is not None and member.piece.in_table:
                self.pipeline.con.drop(member.read.table)

    def _combine(self, kept: list[Member]) -> None:
        """The members' records in ``ROWS`` (reserved names renamed), their files in
        ``FILES``, and both joined as the read table the plan reads."""
        con = self.pipeline.con
        combine(con, [m.piece for m in kept if m.piece is not None], ROWS)
        first = kept[0].read
        rows = ReadResult(ROWS, first.columns, 0, [], first.format, first.encoding, {})
        rows, _ = rename_reserved(con, rows)  # as each member's context already says
        for number, member in enumerate(kept):
            member.number = number
        self.columns = rows.columns
        con.register(FILES + "_in", _files_table(kept))
        try:
            con.create(FILES, _files_query(kept))
        finally:
            con.unregister(FILES + "_in")

    def _evaluated(self, kept: list[Member]) -> Outcome | None:
        """The batch mapped and checked, each member's counts set; None when the engine
        failed on the batch (every member then goes the one-file way)."""
        pipe, con = self.pipeline, self.pipeline.con
        con.create("_tg_read", _read_query())
        con.create(FILE_CTE, exp.select(exp.alias_(lit(1), "_tg_batch", quoted=True)))
        key = f"{self.name}\n(batch)"
        if key not in pipe.plans:
            targets = pipe.project.targets
            pipe.plans[key] = plan("_tg_read", self.source, targets, con.dialect, batch=True)
        records = sum(m.read.rows for m in kept)
        try:
            outcome = evaluate(
                con, "_tg_read", self.source, pipe.project.targets, None, pipe.plans[key], records
            )
            bad, duplicate = _per_file(con)
        except con.errors:  # the error names no file: each finds its own, alone
            self._one_by_one(kept)
            return None
        for member in kept:
            counts = member.attempt.counts
            counts.rows_quarantined = bad.get(member.number, 0) + len(member.read.bad)
            counts.rows_duplicate = duplicate.get(member.number, 0)
            log.event(
                "checked",
                file=member.file.relative,
                quarantined=counts.rows_quarantined,
                duplicate=counts.rows_duplicate,
                new_columns=len(member.attempt.new_columns),
            )
        return outcome

    def _over_threshold(self, member: Member) -> bool:
        try:
            self.pipeline._check_threshold(member.file, self.source, member.attempt.counts)
        except FileError as exc:
            member.result = self.pipeline._ending(member.attempt, exc)
            return True
        return False

    def _take_out(self, over: list[Member]) -> None:
        """Remove rejected members' records; the others keep their file numbers."""
        con = self.pipeline.con
        numbers = [exp.Literal.number(m.number) for m in over]
        con.execute(exp.delete(table(ROWS), where=exp.In(this=file_of_row(), expressions=numbers)))
        numbers = [n.copy() for n in numbers]
        con.execute(exp.delete(table(FILES), where=exp.In(this=col(NUMBER), expressions=numbers)))

    def _one_by_one(self, members: list[Member]) -> None:
        """The batch cannot finish together: each member loads alone, after it."""
        log.event("batch split", source=self.name, files=len(members))
        self.later = [m.file for m in members] + self.later
        for member in members:
            member.result = None

    # -- the transaction ------------------------------------------------------------

    def _commit(self, kept: list[Member], outcome: Outcome) -> None:
        pipe = self.pipeline
        try:
            with pipe.wh.transaction():
                records = self._commit_steps(kept, outcome)
                for _ in kept:  # a fault point counts files, in a batch as one by one
                    checkpoint("commit")
        except Exception as exc:  # nothing of the batch is in: each file alone, after
            log.event("batch split", source=self.name, reason=first_line(exc))
            self._one_by_one(kept)
            return
        for _ in kept:
            checkpoint("committed")
        for member, record in zip(kept, records, strict=True):
            member.result = self._archived(member, record)

    def _commit_steps(self, kept: list[Member], outcome: Outcome) -> list[FileRecord]:
        from tidegate.pipeline import _reconcile

        pipe = self.pipeline
        con, wh = pipe.con, pipe.wh
        loaded_at = now()
        keep_raw = pipe.project.config.keep_raw
        if keep_raw:
            _write_raw(con, wh, self.name)
        expected = _expected(con, outcome)
        written = self._write_targets(kept, outcome, loaded_at)
        records = []
        taken: set[str] = set()  # archive keys of the batch's files, not yet moved there
        for position, member in enumerate(kept):
            attempt = member.attempt
            attempt.context = attempt.context.loaded(loaded_at)
            counts = attempt.counts
            # Appended rows are never unchanged nor superseded: every good row is loaded.
            counts.rows_loaded = counts.rows_read - counts.rows_quarantined - counts.rows_duplicate
            _reconcile(member.file.relative, counts)
            for target, per_file in written.items():
                want = sum(expected[i].get(member.number, 0) for i in _indexes(outcome, target))
                _verify(member, target, want, per_file.get(attempt.file_id, 0))
            if keep_raw and position > 0:
                attempt.new_columns = []  # the first file's reached the raw layer before it
            destination = pipe._archive_destination(member.file, self.name, loaded_at)
            if destination in taken:  # an earlier file of the batch goes there first
                destination = archive._with_hash(destination, member.file.sha256)
            taken.add(destination)
            stored = pipe._stored(pipe.archived, destination)
            records.append(attempt.record("loaded", archive_path=stored))
        _write_quarantine(con, wh, self.name, self.columns, kept, records)
        ledger.insert_files(wh, records)
        return records

    def _write_targets(
        self, kept: list[Member], outcome: Outcome, loaded_at: datetime
    ) -> dict[str, dict[str, int]]:
        """One write per output; the rows each file has in each target, as the warehouse
        counts them."""
        pipe = self.pipeline
        con, wh = pipe.con, pipe.wh
        first = kept[0].attempt.file_id
        for output, good in outcome.outputs:
            target = pipe.project.targets[output.target]
            ensure_target(wh, output.target, target, first)
            query = _target_rows(good, list(target.columns), loaded_at)
            wh.write(output.target, wh.schemas.core, Rows(con, query))
        ids = [m.attempt.file_id for m in kept]
        names = dict.fromkeys(o.target for o, _ in outcome.outputs)
        return {name: _rows_per_file(wh, name, ids) for name in names}

    def _archived(self, member: Member, record: FileRecord) -> FileResult:
        """A committed member's move to the archive; a failed move is recorded as the
        one-file path records it (the next run finishes the move)."""
        from tidegate.pipeline import _described, _result

        pipe, file = self.pipeline, member.file
        log.event(
            "loaded",
            file=file.relative,
            file_id=record.file_id,
            rows=record.rows_loaded,
            unchanged=record.rows_unchanged,
        )
        try:
            with log.step("archived", file=file.relative, file_id=record.file_id):
                pipe._archive(file, record)
            checkpoint("archived")
        except Exception as exc:
            attempt = pipe._attempt(file, self.name, None)
            return pipe._fail(attempt, _described(exc))
        return _result(record, member.attempt.new_columns)


def _verify(member: Member, target: str, written: int, found: int) -> None:
    if found != written:
        counts = {"written": written, "in_warehouse": found}
        what = f"rows of target {target} from {member.attempt.file_id}"
        raise ReconciliationError(member.file.relative, counts, what)


def run_group(pipeline: Pipeline, files: list[tuple[LandingFile, Routed]]) -> list[FileResult]:
    """A group of ``groups``: alone, or as a batch."""
    if len(files) == 1:
        file, routed = files[0]
        return [pipeline._one(file, routed)]
    name = files[0][1]
    assert isinstance(name, str)
    return Batch(pipeline, name, [file for file, _ in files]).run()


# -- SQL over a batch ---------------------------------------------------------------


def _same_shape(members: list[Member]) -> Iterator[list[Member]]:
    """Consecutive members that read to the same columns."""
    run: list[Member] = []
    for member in members:
        assert member.piece is not None
        if run and run[0].piece is not None and run[0].piece.shape != member.piece.shape:
            yield run
            run = []
        run.append(member)
    if run:
        yield run


def _files_table(kept: list[Member]) -> pa.Table:
    """Each member's number, file id, start and ``_file`` values, as Arrow."""
    contexts = [m.attempt.context for m in kept]
    extra = [{**c.partitions, **c.groups} for c in contexts]
    columns: dict[str, pa.Array] = {
        NUMBER: pa.array(range(len(kept)), pa.int64()),
        "file_id": pa.array([m.attempt.file_id for m in kept], pa.string()),
        "started_at": pa.array([m.attempt.started_at for m in kept], pa.timestamp("us")),
    }
    for key in extra[0]:
        columns[f"_tg_v_{key}"] = pa.array([e.get(key) for e in extra], pa.string())
    columns["_tg_v_name"] = pa.array([c.name for c in contexts], pa.string())
    columns["_tg_v_path"] = pa.array([c.path for c in contexts], pa.string())
    columns["_tg_v_modified"] = pa.array([c.modified for c in contexts], pa.timestamp("us"))
    return pa.table(columns)


def _files_query(kept: list[Member]) -> exp.Select:
    """``FILES``: the struct ``_file`` each row of a member sees, as ``file_values`` builds
    it for one file (the same fields in the same order, the same types)."""
    context = kept[0].attempt.context
    keys = [*context.partitions, *context.groups, "name", "path", "modified"]
    struct = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(k, quoted=True), expression=col(f"_tg_v_{k}"))
            for k in dict.fromkeys(keys)
        ]
    )
    return exp.select(
        col(NUMBER), col("file_id"), col("started_at"), exp.alias_(struct, FILE, quoted=True)
    ).from_(table(FILES + "_in"))


def _on_file(rows: str, files: str = "f") -> exp.Expr:
    return exp.IntDiv(this=col(ROW, rows), expression=exp.Literal.number(STRIDE)).eq(
        col(NUMBER, files)
    )


def _read_query() -> exp.Select:
    """The batch's records with their file's ``_file`` beside them (the plan's read table:
    where one file's plan takes ``_file`` from a one-row table, a batch's rows carry it)."""
    every = exp.Column(this=exp.Star(), table=exp.to_identifier("r"))
    return (
        exp.select(every, col(FILE, "f"))
        .from_(exp.alias_(table(ROWS), "r"))
        .join(exp.alias_(table(FILES), "f"), on=_on_file("r"))
    )


def _per_file(con: Engine) -> tuple[dict[int, int], dict[int, int]]:
    """Records quarantined and records dropped as duplicates, by file number."""
    distinct = exp.Count(this=exp.Distinct(expressions=[col(ROW)]))
    bad = exp.select(file_of_row(), distinct).from_(table(BAD)).group_by(file_of_row())
    not_bad = exp.not_(col(ROW).isin(query=exp.select(col(ROW)).from_(table(BAD))))
    duplicate = (
        exp.select(file_of_row(), distinct.copy())
        .from_(table(DUPLICATE))
        .where(not_bad)
        .group_by(file_of_row())
    )
    return (
        {int(n): int(c) for n, c in con.execute(bad)},
        {int(n): int(c) for n, c in con.execute(duplicate)},
    )


def _expected(con: Engine, outcome: Outcome) -> dict[int, dict[int, int]]:
    """Good rows per output, by file number."""
    found: dict[int, dict[int, int]] = {}
    for index, (_, good) in enumerate(outcome.outputs):
        query = exp.select(file_of_row(), exp.Count(this=exp.Star()))
        query = query.from_(table(good)).group_by(file_of_row())
        found[index] = {int(n): int(c) for n, c in con.execute(query)}
    return found


def _indexes(outcome: Outcome, target: str) -> list[int]:
    return [i for i, (o, _) in enumerate(outcome.outputs) if o.target == target]


def _target_rows(good: str, columns: list[str], loaded_at: datetime) -> exp.Select:
    """An append target's rows with lineage: each row's own file id and row number."""
    return (
        exp.select(
            *[col(name, "g") for name in columns],
            exp.alias_(col("file_id", "f"), FILE_ID, quoted=True),
            exp.alias_(row_in_file(col(ROW, "g")), ROW, quoted=True),
            exp.alias_(exp.cast(lit(loaded_at), "timestamp"), LOADED_AT, quoted=True),
        )
        .from_(exp.alias_(table(good), "g"))
        .join(exp.alias_(table(FILES), "f"), on=_on_file("g"))
    )


def _rows_per_file(wh: Warehouse, name: str, ids: list[str]) -> dict[str, int]:
    """Rows of a target by file id, for these files: the warehouse's side of the count."""
    found: dict[str, int] = {}
    for start in range(0, len(ids), ledger.CHUNK):
        chunk = [lit(i) for i in ids[start : start + ledger.CHUNK]]
        query = (
            exp.select(col(FILE_ID), exp.Count(this=exp.Star()))
            .from_(table(name, wh.schemas.core))
            .where(col(FILE_ID).isin(*chunk))
            .group_by(col(FILE_ID))
        )
        found.update({str(i): int(c) for i, c in wh.execute(query)})
    return found


def _write_raw(con: Engine, wh: Warehouse, source: str) -> int:
    """Every record as read into ``raw.<source>``, with its own file id and row."""
    columns = con.columns(ROWS)
    lineage = [(FILE_ID, data_type("varchar"))]
    wh.ensure_raw(source, lineage + columns)
    picked = [
        exp.alias_(row_in_file(col(ROW, "r")), ROW, quoted=True) if name == ROW else col(name, "r")
        for name, _ in columns
    ]
    query = (
        exp.select(exp.alias_(col("file_id", "f"), FILE_ID, quoted=True), *picked)
        .from_(exp.alias_(table(ROWS), "r"))
        .join(exp.alias_(table(FILES), "f"), on=_on_file("r"))
    )
    return wh.write(source, wh.schemas.raw, Rows(con, query))


def _write_quarantine(
    con: Engine,
    wh: Warehouse,
    source: str,
    columns: list[str],
    kept: list[Member],
    records: list[FileRecord],
) -> None:
    """The unreadable lines, then every bad row of the batch with its own file id."""
    unreadable = [
        _unreadable(record, bad)
        for member, record in zip(kept, records, strict=True)
        for bad in member.read.bad
    ]
    ledger.insert_quarantine(wh, unreadable)
    if not any(r.rows_quarantined > len(m.read.bad) for m, r in zip(kept, records, strict=True)):
        return
    shape = ReadResult(ROWS, columns, 0, [], "", None, {})
    query = (
        exp.select(
            exp.alias_(col("file_id", "f"), "file_id", quoted=True),
            exp.alias_(lit(source), "source", quoted=True),
            col("target", "b"),
            exp.alias_(row_in_file(col(ROW, "b")), "row", quoted=True),
            exp.alias_(
                exp.cast(exp.func("to_json", col(REASONS, "b")), "varchar"), "reasons", quoted=True
            ),
            exp.alias_(exp.cast(_record_json(shape), "varchar"), "record", quoted=True),
            exp.alias_(
                exp.cast(col("started_at", "f"), "timestamp"), "quarantined_at", quoted=True
            ),
            exp.alias_(lit("open"), "status", quoted=True),
            exp.alias_(exp.cast(lit(None), "timestamp"), "replayed_at", quoted=True),
        )
        .from_(exp.alias_(table(BAD), "b"))
        .join(exp.alias_(table(FILES), "f"), on=_on_file("b"))
        .join(
            exp.alias_(table(ROWS), "r"),
            on=col(ROW, "b").eq(col(ROW, "r")),
            join_type="left",
        )
        .order_by(col(ROW, "b"))
    )
    wh.write(ledger.QUARANTINE, wh.schemas.meta, Rows(con, query))
