"""The compute engine: an in-process DuckDB that reads, maps and checks, for every warehouse.

It hands the warehouse queries (``Rows``): the embedded DuckDB warehouse is this engine and
inserts them itself; any other warehouse gets them as Arrow batches, streamed, never a
whole file in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
from sqlglot import exp

from tidegate import effective, progress
from tidegate.config.loader import locate
from tidegate.config.models import Project, SourceConfig, TargetConfig
from tidegate.errors import (
    ComputeError,
    ExpressionDataError,
    ExpressionError,
    TidegateError,
    TransientComputeError,
)
from tidegate.privacy.hooks import quarantined_records
from tidegate.read import BadRecord, ReadResult
from tidegate.sql import col, data_type, ident, lit, parse, table
from tidegate.transform.evaluate import BAD, Outcome, run, scalar
from tidegate.transform.hashing import hash_column, row_hash, valid_from_column
from tidegate.transform.mapping import FILE, FILE_CTE, ITEM, REASONS, ROW
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.ledger import FileRecord
from tidegate.warehouse.load import FILE_ID, LOADED_AT, LoadContext


def connect(root: Path, memory_limit: str = "3GB") -> duckdb.DuckDBPyConnection:
    """An in-memory engine that spills to the project's scratch folder, never to ``~``.

    The memory limit keeps a large file from holding the machine: past it, work tables
    spill to disk instead of growing the process.
    """
    scratch = root / ".tidegate"
    scratch.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(
        ":memory:",
        config={
            "temp_directory": str(scratch / "spill"),
            "memory_limit": memory_limit,
            "extension_directory": str(scratch / "extensions"),
            "autoinstall_known_extensions": False,
        },
    )


def engine(wh: Warehouse, project: Project) -> duckdb.DuckDBPyConnection:
    """The compute engine of a project: the warehouse's own (embedded DuckDB) or a new one,
    both under the project's ``memory_limit``. Run and replay both take it from here."""
    limit = project.config.memory_limit
    con = wh.engine(limit) or connect(project.root, limit)
    progress.measured(con)
    return con


def count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return scalar(con, exp.select(exp.Count(this=exp.Star())).from_(table(name)))


def column_types(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, exp.DataType]]:
    rows = run(con, exp.Describe(this=table(name)))
    return [(str(r[0]), exp.DataType.build(str(r[1]), dialect="duckdb")) for r in rows]


def target_rows(
    con: duckdb.DuckDBPyConnection, good: str, target: TargetConfig, context: LoadContext
) -> Rows:
    """The good rows of one output in the target's column order, with lineage, and the row
    hash (merge, scd2) and effective time (scd2 with ``effective: column:<name>``)."""
    columns: list[exp.Expr] = [col(name) for name in target.columns]
    columns += [
        exp.alias_(lit(context.file_id), FILE_ID, quoted=True),
        col(ROW),
        exp.alias_(exp.cast(lit(context.loaded_at), "timestamp"), LOADED_AT, quoted=True),
    ]
    if target.load in ("merge", "scd2"):
        columns.append(exp.alias_(row_hash(target), hash_column(target), quoted=True))
    timed = effective.row_column(target.history)
    if target.load == "scd2" and timed:
        when = exp.cast(col(timed), "timestamp")
        columns.append(exp.alias_(when, valid_from_column(target), quoted=True))
    return Rows(con, exp.select(*columns).from_(table(good)))


def write_raw(
    con: duckdb.DuckDBPyConnection, wh: Warehouse, source: str, read: ReadResult, file_id: str
) -> int:
    """The file's records as read into ``raw.<source>``; new columns extend the table."""
    columns = column_types(con, read.table)
    lineage = [(FILE_ID, data_type("varchar"))]
    wh.ensure_schema(wh.schemas.raw)
    wh.ensure_table(source, wh.schemas.raw, lineage + columns)
    query = exp.select(
        exp.alias_(lit(file_id), FILE_ID, quoted=True), *[col(name) for name, _ in columns]
    ).from_(table(read.table))
    return wh.write(source, wh.schemas.raw, Rows(con, query))


def _record_json(read: ReadResult) -> exp.Expr:
    struct = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=ident(name), expression=col(name, "r")) for name in read.columns
        ]
    )
    return exp.func("to_json", struct)


def write_quarantine(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    record: FileRecord,
    read: ReadResult,
    outcome: Outcome,
) -> None:
    """Every bad row with its reasons and original values, set-wise; then unreadable lines."""
    assert record.source is not None
    ledger.insert_quarantine(wh, [_unreadable(record, bad) for bad in read.bad])
    if not outcome.rows_quarantined:
        return
    when = exp.cast(lit(record.started_at), "timestamp")
    query = (
        exp.select(
            exp.alias_(lit(record.file_id), "file_id", quoted=True),
            exp.alias_(lit(record.source), "source", quoted=True),
            col("target", "b"),
            exp.alias_(col(ROW, "b"), "row", quoted=True),
            exp.alias_(
                exp.cast(exp.func("to_json", col(REASONS, "b")), "varchar"), "reasons", quoted=True
            ),
            exp.alias_(exp.cast(_record_json(read), "varchar"), "record", quoted=True),
            exp.alias_(when, "quarantined_at", quoted=True),
            exp.alias_(lit("open"), "status", quoted=True),
            exp.alias_(exp.cast(lit(None), "timestamp"), "replayed_at", quoted=True),
        )
        .from_(exp.alias_(table(outcome.bad_table or BAD), "b"))
        .join(
            exp.alias_(table(quarantined_records(con, read)), "r"),
            on=col(ROW, "b").eq(col(ROW, "r")),
            join_type="left",
        )
        .order_by(col(ROW, "b"))
    )
    wh.write(ledger.QUARANTINE, wh.schemas.meta, Rows(con, query))


def _unreadable(record: FileRecord, bad: BadRecord) -> ledger.QuarantineRecord:
    reasons = [{"rule": "read", "column": None, "value": None, "message": bad.reason}]
    return ledger.QuarantineRecord(
        file_id=record.file_id,
        source=record.source or "",
        target=None,
        row=bad.row,
        reasons=json.dumps(reasons),
        record=json.dumps({"_line": bad.raw}, ensure_ascii=False),
        quarantined_at=record.started_at,
    )


# -------------------------------------------------------------------- reserved column names

# Columns tidegate adds beside a file's own: a file column of the same name is renamed.
RESERVED = (ROW, FILE, FILE_ID, LOADED_AT, ITEM, REASONS)


def _free_name(name: str, taken: set[str]) -> str:
    suffix = 2
    while f"{name}_{suffix}".casefold() in taken:
        suffix += 1
    return f"{name}_{suffix}"


def reserved_renames(columns: list[str]) -> dict[str, str]:
    """``{file column: new name}`` for columns named like tidegate's own (``_file_id``),
    case-insensitively; each gets ``_2`` (or the next free number), as a repeated header
    name does.

    >>> reserved_renames(["id", "_file_id", "_Loaded_At", "_file_id_2"])
    {'_file_id': '_file_id_3', '_Loaded_At': '_Loaded_At_2'}
    """
    reserved = {name.casefold() for name in RESERVED}
    taken = {c.casefold() for c in columns} | reserved
    renames: dict[str, str] = {}
    for name in columns:
        if name.casefold() in reserved:
            renames[name] = _free_name(name, taken)
            taken.add(renames[name].casefold())
    return renames


def rename_reserved(
    con: duckdb.DuckDBPyConnection, read: ReadResult
) -> tuple[ReadResult, dict[str, str]]:
    """The read with reserved file column names renamed in its table, and the renames."""
    renames = reserved_renames(read.columns)
    for old, new in renames.items():
        action = exp.RenameColumn(this=col(old), to=col(new))
        run(con, exp.Alter(this=table(read.table), kind="TABLE", actions=[action]))
    if not renames:
        return read, {}
    return replace(read, columns=[renames.get(c, c) for c in read.columns]), renames


# -------------------------------------------------------------------- engine errors

# Raised whatever the data: retrying may help, or the engine itself is short of something.
_TRANSIENT = (duckdb.TransactionException, duckdb.SerializationException)
_RESOURCE = (
    duckdb.OutOfMemoryException,
    duckdb.IOException,
    duckdb.PermissionException,
    duckdb.InterruptException,
)
# Raised by a value of the file: the same expression runs on other files.
_DATA = (duckdb.DataError, duckdb.InvalidInputException)
# Raised while binding: the expression cannot run on any file of this shape.
_BIND = (duckdb.ProgrammingError, duckdb.NotSupportedError, duckdb.DependencyException)

YamlPath = tuple[str | int, ...]


def _expressions(source: SourceConfig) -> Iterator[tuple[YamlPath, str, str]]:
    """Every expression of a source, in evaluation order: (YAML path, label, SQL)."""
    for name, derived in source.derive.items():
        yield ("derive", name), f"derive.{name}", derived
    for index, output in enumerate(source.outputs):
        if output.unnest:
            yield ("outputs", index, "unnest"), f"outputs[{index}].unnest", output.unnest
        for name, mapped in output.columns.items():
            if mapped:
                label = f"outputs[{index}].columns.{name}"
                yield ("outputs", index, "columns", name), label, mapped


def _base(read_table: str, derive: list[tuple[str, str]]) -> exp.Select:
    derived = [exp.alias_(parse(sql), name, quoted=True) for name, sql in derive]
    return (
        exp.select(exp.Star(), *derived)
        .from_(table(read_table))
        .join(table(FILE_CTE), join_type="cross")
    )


def _fails(con: duckdb.DuckDBPyConnection, query: exp.Select, sql: str) -> bool:
    """Whether computing ``sql`` over every row of ``query`` raises an engine error."""
    probe = "_tg_probe"
    value = exp.alias_(parse(sql), probe, quoted=True)
    inner = exp.select(value).from_(query.subquery("_tg_probed"))
    try:
        run(con, exp.select(exp.Count(this=col(probe))).from_(inner.subquery("_tg_values")))
    except duckdb.Error:
        return True
    return False


def _culprit(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, read_table: str
) -> tuple[YamlPath, str, str] | None:
    """The first expression that fails alone, each over the derived values before it.

    Only asked after a failure, so the cost of a query per expression is paid only then.
    """
    derive = list(source.derive.items())
    for path, label, sql in _expressions(source):
        before = derive[: derive.index((str(path[1]), sql))] if path[0] == "derive" else derive
        if path[-1] != "unnest" and path[0] == "outputs" and source.outputs[int(path[1])].unnest:
            continue  # a column over unnested items: its failure shows in the unnest's
        try:
            if _fails(con, _base(read_table, before), sql):
                return path, label, sql
        except duckdb.Error:
            return None  # the read table itself is gone: nothing to point at
    return None


def _reason(exc: duckdb.Error) -> str:
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__


def translate(
    exc: duckdb.Error,
    con: duckdb.DuckDBPyConnection,
    project: Project,
    source: str,
    read_table: str,
    file: str,
) -> TidegateError:
    """A compute-engine error met while mapping ``file`` for ``source``, as the project's
    error, pointing at the expression at fault (file and line of its YAML). The one place
    where engine errors of the map-and-check step become tidegate's.
    """
    reason = _reason(exc)
    if isinstance(exc, _TRANSIENT):
        return TransientComputeError(f"{file}: the compute engine asks for a retry: {reason}")
    if isinstance(exc, _RESOURCE):
        limit = project.config.memory_limit
        return ComputeError(f"{file}: the compute engine failed (memory_limit {limit}): {reason}")
    if not isinstance(exc, _DATA + _BIND):
        return ComputeError(f"{file}: internal error in the compute engine: {reason}")
    found = _culprit(con, project.sources[source], read_table)
    path, label, sql = found if found else ((), f"source {source!r}", "its mapping")
    config, line = locate(project.root, "sources", source, path)
    shown = (
        config.relative_to(project.root).as_posix()
        if config.is_relative_to(project.root)
        else str(config)
    )
    if isinstance(exc, _DATA):
        return ExpressionDataError(file, shown, line, label, sql, reason)
    return ExpressionError(config, line, label, sql, reason)
