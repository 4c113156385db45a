"""``tidegate check`` binds everything ``run`` would run, before any file arrives.

Each mapping, derived value and ``unnest`` is bound (and cast to its target column's type)
over an empty relation whose columns are the ones the source's expressions read, as text,
as read tables hold them; each rule of a target over an empty relation of the target's
typed columns; each model over empty tables of every target, in a throwaway in-memory
DuckDB. No data moves. A problem is reported as ``sources/x.yml:LINE: ...`` (or the
target's file, or ``models/x.sql``), with DuckDB's own first line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from pathlib import Path

from sqlglot import exp

from tidegate.compute import Engine, local
from tidegate.config.loader import yaml_lines
from tidegate.config.models import OutputConfig, Project, SourceConfig, TargetConfig
from tidegate.errors import ConfigError, TranspileError, first_line
from tidegate.sql import column_defs, data_type, parse, table
from tidegate.sql_models import build_order, parse_model
from tidegate.transform.evaluate import set_file_values
from tidegate.transform.mapping import FILE, ROW, checked, file_values, needed_columns, source_rows
from tidegate.transform.rules import RAW_SUFFIX, failures
from tidegate.transform.types import cast
from tidegate.warehouse.load import MODES, target_columns

READ = "_tg_check_read"
Lines = Callable[[tuple[str | int, ...]], int]


def bind_problems(project: Project) -> list[str]:
    """Every mapping, rule and model that would fail to bind, one message each."""
    con = local()
    try:
        problems = [p for name in sorted(project.targets) for p in _rules(con, project, name)]
        for name in sorted(project.sources):
            problems += _source_problems(con, project, name)
        problems += _model_problems(con, project)
        return problems + spark_problems(con, project)
    finally:
        con.close()


def _bind(con: Engine, query: exp.Query) -> str | None:
    """Why the query does not bind, or None. LIMIT 0: planned and optimised, never run."""
    try:
        con.execute(exp.select(exp.Star()).from_(query.subquery("_tg_q")).limit(0))
    except con.errors as exc:
        return first_line(exc)
    return None


def _file(project: Project, folder: str, name: str) -> Path:
    for suffix in (".yml", ".yaml"):
        path = project.root / folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return project.root / folder / f"{name}.yml"


def _where(project: Project, folder: str, name: str) -> tuple[str, Lines]:
    file = _file(project, folder, name)
    return file.relative_to(project.root).as_posix(), _lines(file)


def _lines(file: Path) -> Lines:
    try:
        return yaml_lines(file)
    except ConfigError:
        return lambda path: 1


def _shown(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- rules


def _typed(con: Engine, name: str, target: TargetConfig) -> exp.Table:
    """An empty table of the target's typed columns and their mapped (raw) values."""
    typed = [(c, data_type(spec.type)) for c, spec in target.columns.items()]
    raws = [(c + RAW_SUFFIX, data_type("varchar")) for c in target.columns]
    made = table(f"_tg_check_{name}")
    schema = exp.Schema(this=made, expressions=column_defs([*typed, *raws]))
    con.execute(exp.Create(this=schema, kind="TABLE", replace=True))
    return made


def _rules(con: Engine, project: Project, name: str) -> list[str]:
    target = project.targets[name]
    typed = _typed(con, name, target)
    path, lines = _where(project, "targets", name)
    problems = []
    for failure in failures(target.columns):
        why = _bind(con, exp.select(failure.condition.copy()).from_(typed))
        if why is not None:
            spec = target.columns[failure.column]
            text = spec.check if failure.rule == "check" and spec.check else failure.rule
            line = lines(("columns", failure.column, failure.rule))
            problems.append(
                f"{path}:{line}: column {failure.column!r}, {failure.rule} `{_shown(text)}`"
                f" does not bind over the target's typed columns: {why}"
            )
    return problems


# --------------------------------------------------------------------------- sources


def _file_fields(source: SourceConfig) -> set[str]:
    """``_file.<field>`` names the source's expressions read: partitions and name groups
    are known only once a file arrives, so each is given as text."""
    fields: set[str] = set()
    for sql in _expressions(source):
        for column in parse(sql).find_all(exp.Column):
            parts = column.parts
            if len(parts) > 1 and parts[0].name == FILE:
                fields.add(parts[1].name)
    return fields - {"name", "path", "modified"}


def _expressions(source: SourceConfig) -> Iterator[str]:
    yield from source.derive.values()
    for output in source.outputs:
        yield from (sql for sql in output.columns.values() if sql)
        if output.unnest:
            yield output.unnest


def _read_table(con: Engine, source: SourceConfig) -> None:
    columns = [(ROW, data_type("bigint"))]
    columns += [(c, data_type("varchar")) for c in sorted(needed_columns(source))]
    schema = exp.Schema(this=table(READ), expressions=column_defs(columns))
    con.execute(exp.Create(this=schema, kind="TABLE", replace=True))
    extra = dict.fromkeys(sorted(_file_fields(source)), "")
    set_file_values(con, file_values("f", "f", datetime(2000, 1, 1), extra))


def _typed_read(source: SourceConfig) -> bool:
    """Parquet keeps its column types, unknown until a file arrives: not bound as text."""
    if source.format == "parquet":
        return True
    globs = source.globs
    return source.format == "auto" and bool(globs) and all(".parquet" in g for g in globs)


def _source_problems(con: Engine, project: Project, name: str) -> list[str]:
    source = project.sources[name]
    if _typed_read(source):
        return []
    try:
        _read_table(con, source)
    except Exception:  # an expression the loader accepted but sqlglot cannot walk
        return []
    path, lines = _where(project, "sources", name)
    derived: dict[str, str] = {}
    for key, sql in source.derive.items():
        derived[key] = sql
        why = _bind(con, source_rows(READ, derived, OutputConfig(target="_")))
        if why is not None:
            line = lines(("derive", key))
            return [f"{path}:{line}: derive.{key} `{_shown(sql)}` does not bind: {why}"]
    problems = []
    for index, output in enumerate(source.outputs):
        target = project.targets.get(output.target)
        if target is not None:
            problems += _output_problems(con, source, index, output, target, path, lines)
    return problems


def _output_problems(
    con: Engine,
    source: SourceConfig,
    index: int,
    output: OutputConfig,
    target: TargetConfig,
    path: str,
    lines: Lines,
) -> list[str]:
    rows = source_rows(READ, source.derive, output)
    if output.unnest:
        why = _bind(con, rows)
        if why is not None:
            line = lines(("outputs", index, "unnest"))
            return [
                f"{path}:{line}: outputs[{index}].unnest `{_shown(output.unnest)}` does not"
                f" bind (it must give a list): {why}"
            ]
    problems = []
    for column, sql in output.columns.items():
        spec = target.columns.get(column)
        if not sql or spec is None:
            continue
        value = cast(parse(sql), spec)
        why = _bind(con, exp.select(value).from_(rows.subquery("_tg_rows")))
        if why is not None:
            line = lines(("outputs", index, "columns", column))
            problems.append(
                f"{path}:{line}: outputs[{index}].columns.{column} `{_shown(sql)}` does not"
                f" bind: {why}"
            )
    whole = None if problems else _bind(con, checked(READ, source.derive, output, target))
    if whole is not None:  # parts bind, the output as a whole does not
        line = lines(("outputs", index))
        problems.append(f"{path}:{line}: outputs[{index}] does not bind: {whole}")
    return problems


# --------------------------------------------------------------------------- models


def _model_problems(con: Engine, project: Project) -> list[str]:
    if not project.models:
        return []
    schemas = project.config.warehouse.schemas
    for schema in {schemas.core, schemas.models}:
        con.execute(exp.Create(this=table(schema).this, kind="SCHEMA", exists=True))
    for name, target in project.targets.items():
        if target.load in MODES:
            made = exp.Schema(
                this=table(name, schemas.core), expressions=column_defs(target_columns(target))
            )
            con.execute(exp.Create(this=made, kind="TABLE", replace=True))
    problems = []
    trees = {}
    for name, sql in project.models.items():
        try:
            trees[name] = parse_model(name, sql)
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        order = build_order(trees)
    except ConfigError as exc:
        return [*problems, str(exc)]
    for name in order:
        view = exp.Create(
            this=table(name, schemas.models), kind="VIEW", replace=True, expression=trees[name]
        )
        try:
            con.execute(view)
            con.execute(exp.select(exp.Star()).from_(table(name, schemas.models)).limit(0))
        except con.errors as exc:
            problems.append(f"models/{name}.sql: does not bind: {first_line(exc)}")
    return problems


# --------------------------------------------------------------------------- spark


def spark_problems(con: Engine, project: Project) -> list[str]:
    """On ``type: spark``, every expression that has no Spark form, at its YAML line."""
    if project.config.warehouse.type != "spark":
        return []
    problems = []
    for name in sorted(project.targets):
        path, lines = _where(project, "targets", name)
        for failure in failures(project.targets[name].columns):
            why = _untranspilable(failure.condition, ())
            if why is not None:
                line = lines(("columns", failure.column, failure.rule))
                problems.append(
                    f"{path}:{line}: column {failure.column!r}, {failure.rule} has no Spark"
                    f" form: {why}"
                )
    for name in sorted(project.sources):
        problems += _spark_source_problems(con, project, name)
    return problems


def _untranspilable(tree: exp.Expr, arrays: Collection[str]) -> str | None:
    from tidegate.transform.spark import to_spark

    try:
        to_spark(tree, arrays)
    except TranspileError as exc:
        return exc.reason
    return None


def _list_columns(con: Engine, query: exp.Select) -> set[str]:
    """Columns the compute engine types as lists: ``len`` of them is ``size`` on Spark."""
    name = "_tg_check_lists"
    try:
        con.create(name, query, view=True)
        columns = con.columns(name)
    except con.errors:
        return set()  # the binding problem is reported on its own
    finally:
        con.drop(name)
    lists = (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST)
    return {column for column, kind in columns if kind.is_type(*lists)}


def _spark_source_problems(con: Engine, project: Project, name: str) -> list[str]:
    source = project.sources[name]
    path, lines = _where(project, "sources", name)
    if not _typed_read(source):
        try:
            _read_table(con, source)
        except Exception:  # an expression sqlglot cannot walk: reported by binding
            return []
    problems = []
    for index, output in enumerate(source.outputs):
        target = project.targets.get(output.target)
        arrays = _list_columns(con, source_rows(READ, source.derive, output))
        for key, sql in _labelled(source, index):
            why = _untranspilable(parse(sql), arrays)
            if why is not None:
                line = lines(key)
                label = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in key)
                problems.append(
                    f"{path}:{line}: {label.replace('.[', '[')} `{_shown(sql)}` has no Spark"
                    f" form: {why}"
                )
        if target is not None and not problems:
            why = _untranspilable(checked(READ, source.derive, output, target), arrays)
            if why is not None:
                line = lines(("outputs", index))
                problems.append(f"{path}:{line}: outputs[{index}] has no Spark form: {why}")
    return list(dict.fromkeys(problems))


def _labelled(source: SourceConfig, index: int) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(YAML path, SQL) of the derived values and of one output's expressions."""
    for key, derived in source.derive.items():
        yield ("derive", key), derived
    output = source.outputs[index]
    if output.unnest:
        yield ("outputs", index, "unnest"), output.unnest
    for column, mapped in output.columns.items():
        if mapped:
            yield ("outputs", index, "columns", column), mapped
