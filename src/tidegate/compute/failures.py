"""Engine errors of the map-and-check step, pointing at the expression at fault.

The engine says what kind of error it met (``Engine.kind``); here a data or bind error
becomes the project's error naming the YAML file and line of the expression that fails.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from tidegate.compute.engine import Engine, reason_of
from tidegate.config.loader import locate
from tidegate.config.models import Project, SourceConfig
from tidegate.errors import ExpressionDataError, ExpressionError, TidegateError
from tidegate.sql import col, parse, table
from tidegate.transform.mapping import FILE_CTE

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


def _fails(con: Engine, query: exp.Select, sql: str) -> bool:
    """Whether computing ``sql`` over every row of ``query`` raises an engine error."""
    probe = "_tg_probe"
    value = exp.alias_(parse(sql), probe, quoted=True)
    inner = exp.select(value).from_(query.subquery("_tg_probed"))
    try:
        con.execute(exp.select(exp.Count(this=col(probe))).from_(inner.subquery("_tg_values")))
    except con.errors:
        return True
    return False


def _culprit(
    con: Engine, source: SourceConfig, read_table: str
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
        except con.errors:
            return None  # the read table itself is gone: nothing to point at
    return None


def translate(
    exc: BaseException,
    con: Engine,
    project: Project,
    source: str,
    read_table: str,
    file: str,
) -> TidegateError:
    """A compute-engine error met while mapping ``file`` for ``source``, as the project's
    error, pointing at the expression at fault (file and line of its YAML). The one place
    where engine errors of the map-and-check step become tidegate's.
    """
    kind = con.kind(exc)
    if kind not in ("data", "bind"):
        return con.translate(exc, file)
    reason = reason_of(exc)
    found = _culprit(con, project.sources[source], read_table)
    path, label, sql = found if found else ((), f"source {source!r}", "its mapping")
    config, line = locate(project.root, "sources", source, path)
    shown = (
        config.relative_to(project.root).as_posix()
        if config.is_relative_to(project.root)
        else str(config)
    )
    if kind == "data":
        return ExpressionDataError(file, shown, line, label, sql, reason)
    return ExpressionError(config, line, label, sql, reason)
