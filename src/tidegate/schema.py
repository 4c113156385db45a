"""Targets whose YAML changed after their table was made: found before any file moves.

prepare   at the start of a run or replay: every target's table exists (empty, from its
          YAML, so that models bind from the first run), and a change a load will not
          make (a narrowing, a new required column, a new key) stops everything with
          the target file, the line, the column, both types and what to do
report    for ``tidegate check``: per target, what the next file will change, and what
          it will not
migrate   ``tidegate migrate TARGET``: the table rebuilt under the YAML's types and key,
          every row and version kept, in one transaction; values that do not convert
          are listed and nothing changes
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from tidegate import compute
from tidegate.clock import utcnow
from tidegate.compute.engine import Engine
from tidegate.config.loader import yaml_lines
from tidegate.config.models import Project, TargetConfig
from tidegate.errors import ConfigError, WarehouseError
from tidegate.sql import col, table
from tidegate.transform.types import as_text, cast, expected
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.batch import FILE_ID, ROW
from tidegate.warehouse.evolve import (
    Difference,
    Shape,
    differences,
    ensure_log,
    record,
    record_shape,
    recorded_shape,
    unsafe_message,
)
from tidegate.warehouse.load import MODES, ensure_target, target_columns

SHOWN_VALUES = 10  # values that do not convert, listed in a migrate error
MIGRATE = "_tg_migrate"


def stored_targets(project: Project) -> Iterator[tuple[str, TargetConfig]]:
    """Targets that have a table (``load: erase`` targets never store their rows)."""
    for name, target in sorted(project.targets.items()):
        if target.load in MODES:
            yield name, target


def target_file(project: Project, name: str) -> Path:
    for suffix in (".yml", ".yaml"):
        path = project.root / "targets" / f"{name}{suffix}"
        if path.is_file():
            return path
    return project.root / "targets" / f"{name}.yml"


def _location(difference: Difference) -> tuple[str | int, ...]:
    if difference.kind in ("key", "mode"):
        return (difference.kind if difference.kind == "key" else "load",)
    return ("columns", difference.column or "", "type")


def located(project: Project, differences_: list[Difference]) -> ConfigError:
    """One ConfigError for unsafe differences, each ``targets/x.yml:LINE: message``."""
    lines: dict[str, Callable[[tuple[str | int, ...]], int]] = {}
    found: list[tuple[str, int, str]] = []
    for difference in differences_:
        file = target_file(project, difference.target)
        relative = file.relative_to(project.root).as_posix()
        if relative not in lines:
            lines[relative] = yaml_lines(file)
        found.append((relative, lines[relative](_location(difference)), unsafe_message(difference)))
    path, line, message = found[0]
    rest = "".join(f"\n{p}:{n}: {m}" for p, n, m in found[1:])
    return ConfigError(path, message + rest, line)


# --------------------------------------------------------------------------- a run begins


def prepare(wh: Warehouse, project: Project, run_id: str | None) -> None:
    """Before the first file: every stored target's table exists, and none needs a change
    that loading will not make (then a ConfigError names each, and nothing is created)."""
    unsafe: list[Difference] = []
    with wh.transaction():
        ensure_log(wh)
        for name, target in stored_targets(project):
            if wh.columns_of(name, wh.schemas.core) is None:
                ensure_target(wh, name, target, run_id=run_id)
                continue
            shape = recorded_shape(wh, name)
            found = differences(wh, name, target, target_columns(target), shape)
            unsafe += [d for d in found if not d.safe]
            if shape != Shape.of(target) and not any(d.kind in ("key", "mode") for d in found):
                record_shape(wh, name, target, shape, run_id)  # adopted, or a harmless change
        if unsafe:
            raise located(project, unsafe)


# --------------------------------------------------------------------------- check


@dataclass
class TargetReport:
    """What ``tidegate check`` says about one target's table."""

    target: str
    exists: bool
    changes: list[Difference] = field(default_factory=list)

    @property
    def unsafe(self) -> list[Difference]:
        return [d for d in self.changes if not d.safe]


def report(wh: Warehouse, project: Project) -> list[TargetReport]:
    """Each stored target's differences from its table; nothing is changed."""
    reports = []
    for name, target in stored_targets(project):
        if wh.columns_of(name, wh.schemas.core) is None:
            reports.append(TargetReport(name, exists=False))
            continue
        shape = recorded_shape(wh, name)
        found = differences(wh, name, target, target_columns(target), shape)
        reports.append(TargetReport(name, True, [d for d in found if d.kind != "shape"]))
    return reports


# --------------------------------------------------------------------------- migrate


@dataclass
class Migrated:
    target: str
    rows: int
    changes: list[Difference]


def migrate(project: Project, name: str) -> Migrated:
    """Rebuild ``core.<name>`` under the YAML's types (and a merge target's new key)."""
    target = project.targets.get(name)
    if target is None or target.load not in MODES:
        known = ", ".join(n for n, _ in stored_targets(project))
        raise ConfigError("migrate", f"no stored target named {name!r}; the targets are: {known}")
    with connect(project) as wh:
        ledger.ensure(wh)
        ensure_log(wh)
        if wh.columns_of(name, wh.schemas.core) is None:
            raise ConfigError(
                "migrate", f"target {name!r} has no table yet: `tidegate run` makes it"
            )
        shape = recorded_shape(wh, name)
        found = differences(wh, name, target, target_columns(target), shape)
        _refuse(project, [d for d in found if d.kind in ("required", "mode")])
        if target.load == "scd2" and any(d.kind == "key" for d in found):
            raise ConfigError(
                target_file(project, name).relative_to(project.root).as_posix(),
                "migrate keeps an scd2 history under the key it was recorded with; to change"
                " the key, load into a new target (or drop the table and reload the archive)",
            )
        changing = [d for d in found if d.kind in ("add", "widen", "narrow", "key", "shape")]
        if not changing:
            return Migrated(name, wh.count(name, wh.schemas.core), [])
        engine = wh.engine(project.config.memory_limit)
        con = engine or compute.connect(project.root)
        with wh.transaction():
            rows = _rebuild(wh, con, engine is not None, project, name, target, found)
            record(wh, [_migrated(d) for d in changing if d.kind != "shape"])
            record_shape(wh, name, target, shape, None)
        return Migrated(name, rows, changing)


def _refuse(project: Project, blocking: list[Difference]) -> None:
    if blocking:
        raise located(project, blocking)


def _migrated(difference: Difference) -> list[object]:
    return [
        difference.target,
        "migrate",
        difference.column,
        difference.table_type,
        difference.yaml_type,
        None,
        None,
        utcnow(),
    ]


def _rebuild(
    wh: Warehouse,
    con: Engine,
    embedded: bool,
    project: Project,
    name: str,
    target: TargetConfig,
    found: list[Difference],
) -> int:
    """Copy the rows into the compute engine, convert the changed columns as a load would,
    empty the table, give it the new types, and write every row back."""
    retyped = {d.column for d in found if d.kind in ("widen", "narrow") and d.column}
    existing = wh.column_types(name, wh.schemas.core) or {}
    before = wh.count(name, wh.schemas.core)
    with _copied(wh, con, embedded, name, list(existing)) as copy:
        converted = _converted(copy, list(existing), retyped, target)
        _check_conversions(project, con, copy, converted, retyped, target, name)
        if target.load == "merge" and any(d.kind == "key" for d in found):
            _check_key(project, con, copy, target, name)
        wh.execute(exp.delete(table(name, wh.schemas.core)))
        kinds = dict(target_columns(target))
        wh.alter_types(name, wh.schemas.core, [(c, kinds[c]) for c in sorted(retyped)])
        wh.ensure_table(name, wh.schemas.core, target_columns(target))  # new columns
        _reindex(wh, name, target)
        written = wh.write(name, wh.schemas.core, Rows(con, converted))
    if written != before:  # raised inside the transaction: nothing changes
        raise WarehouseError(
            f"migrate {name}: {before} rows before, {written} written back; nothing was changed"
        )
    return written


@contextmanager
def _copied(
    wh: Warehouse, con: Engine, embedded: bool, name: str, columns: list[str]
) -> Iterator[str]:
    """The table's rows in the compute engine: a temporary copy in DuckDB, which is the
    warehouse itself when embedded; from any other warehouse, the rows as Arrow."""
    query = exp.select(*[col(c) for c in columns]).from_(table(name, wh.schemas.core))
    if embedded:
        wh.create_temp(MIGRATE, query)
        try:
            yield f"{wh.TEMP_SCHEMA}.{MIGRATE}"
        finally:
            wh.drop_temp(MIGRATE)
        return
    rows = wh.execute(query)
    arrays = {c: pa.array([r[i] for r in rows]) for i, c in enumerate(columns)}
    con.register(MIGRATE, pa.table(arrays) if columns else pa.table({}))
    try:
        yield MIGRATE
    finally:
        con.unregister(MIGRATE)


def _source(copy: str) -> exp.Table:
    schema, _, name = copy.rpartition(".")
    return table(name, schema or None)


def _converted(
    copy: str, columns: list[str], retyped: set[str], target: TargetConfig
) -> exp.Select:
    """Every column; a retyped one converted from its text as a load converts a value."""
    values = [
        exp.alias_(cast(as_text(col(c)), target.columns[c]), c, quoted=True)
        if c in retyped and c in target.columns
        else col(c)
        for c in columns
    ]
    return exp.select(*values).from_(_source(copy))


def _check_conversions(
    project: Project,
    con: Engine,
    copy: str,
    converted: exp.Select,
    retyped: set[str],
    target: TargetConfig,
    name: str,
) -> None:
    """Values present before and NULL after: listed with their file and row, and nothing
    changes."""
    bad: list[str] = []
    total = 0
    for column in sorted(c for c in retyped if c in target.columns):
        before = as_text(col(column))
        after = cast(before.copy(), target.columns[column])
        failing = (
            exp.select(col(FILE_ID), col(ROW), before.as_("_tg_value"))
            .from_(_source(copy))
            .where(exp.not_(col(column).is_(exp.null())))
            .where(after.is_(exp.null()))
        )
        counted = con.execute(
            exp.select(exp.Count(this=exp.Star())).from_(failing.subquery("_tg_bad"))
        )
        total += int(counted[0][0]) if counted else 0
        for file_id, row, value in con.execute(failing.limit(SHOWN_VALUES)):
            bad.append(
                f"file {file_id} row {row} column {column}: {value!r} is not"
                f" {expected(target.columns[column])}"
            )
    if bad:
        path = target_file(project, name).relative_to(project.root).as_posix()
        shown = "; ".join(bad[:SHOWN_VALUES])
        raise ConfigError(
            path,
            f"{total} values of core.{name} do not convert to the new types, nothing was"
            f" changed: {shown}; fix those rows in the warehouse or keep the old type",
        )


def _check_key(project: Project, con: Engine, copy: str, target: TargetConfig, name: str) -> None:
    """A merge target holds one row per key: the new key must identify every row."""
    keys = [col(k) for k in target.key]
    repeated = (
        exp.select(*keys, exp.Count(this=exp.Star()).as_("_tg_n"))
        .from_(_source(copy))
        .group_by(*[k.copy() for k in keys])
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
        .limit(SHOWN_VALUES)
    )
    found = con.execute(repeated)
    if found:
        path = target_file(project, name).relative_to(project.root).as_posix()
        shown = "; ".join(f"{list(row[:-1])} x{row[-1]}" for row in found)
        raise ConfigError(
            path,
            f"the new key {target.key} does not identify every row of core.{name}, nothing"
            f" was changed: {shown}",
        )


def _reindex(wh: Warehouse, name: str, target: TargetConfig) -> None:
    """A merge target's key index follows its key."""
    if target.load != "merge":
        return
    wh.drop_index(name, wh.schemas.core, f"{name}__key")
    MODES[target.load].prepare(wh, name, target, False)
