"""Checks across a project's files: SQL that parses, columns and targets that exist."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from tidegate.config.document import Problems, YamlPath
from tidegate.config.models import OutputConfig, SourceConfig, TargetConfig
from tidegate.config.privacy import subject_problems
from tidegate.config.wording import clip, hint

__all__ = ["source_problems", "sql_problem", "target_problems"]

# Why a text is not one expression, or None: ``sql_problem``, or the loader's kept answers.
SqlCheck = Callable[[str], str | None]
# A mapping that only names a column, as ``tidegate draft`` writes them (``sql.QUOTED_NAME``,
# not imported from there: ``tidegate.sql`` imports sqlglot).
QUOTED_NAME = re.compile(r'"((?:[^"]|"")+)"')


def sql_problem(expression: str) -> str | None:
    """Why ``expression`` is not a DuckDB SQL expression, or None when it is one.

    sqlglot is imported here, not with the module: a project whose expressions are known
    to parse is loaded without it (``tidegate.config.parsed``); a quoted column name (a draft
    maps 10,000 of them) is one without it, as ``sql.parse`` takes it.
    """
    if QUOTED_NAME.fullmatch(expression.strip()):
        return None
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, SqlglotError

    # Statements parse as SQL too, but a mapping or a check must be one expression.
    statements = (exp.DDL, exp.DML, exp.Command, exp.Drop, exp.Block, exp.Pragma, exp.Attach)
    try:
        tree = sqlglot.parse_one(expression, read="duckdb")
    except ParseError as exc:
        if not exc.errors:
            return str(exc)
        detail = exc.errors[0]
        where = f"column {detail['col']}"
        if detail["line"] > 1:
            where = f"line {detail['line']}, {where}"
        # sqlglot names node classes by their repr: "missing for <class '...core.GTE'>"
        description = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", detail["description"])
        return f"{description} at {where}, near {detail['highlight']!r}"
    except SqlglotError as exc:
        return str(exc).splitlines()[0]
    if isinstance(tree, statements) or (
        isinstance(tree, exp.Query) and not isinstance(tree, exp.Subquery)
    ):
        return f"expected an expression, got a {tree.key.upper()} statement"
    return None


def _check_sql(
    expression: str | None, path: YamlPath, what: str, problems: Problems, sql: SqlCheck
) -> None:
    if expression is None:
        return
    problem = sql(expression)
    if problem is not None:
        shown = clip(" ".join(expression.split()))  # one line, whatever the YAML layout
        problems.append((path, f"invalid SQL {what}: {problem}, in `{shown}`"))


def target_problems(
    name: str,
    target: TargetConfig,
    targets: Mapping[str, TargetConfig],
    sql: SqlCheck = sql_problem,
) -> Problems:
    problems: Problems = []
    columns = target.columns
    for column, spec in columns.items():
        _check_sql(
            spec.check,
            ("columns", column, "check"),
            f"in the check of column {column!r}",
            problems,
            sql,
        )
    if isinstance(target.history.track, list):
        for index, column in enumerate(target.history.track):
            if column not in columns:
                message = f"history.track: {column!r} is not a column of target {name!r}"
                problems.append(
                    (("history", "track", index), message + hint(column, columns, "column"))
                )
    problems += subject_problems(name, targets)
    for index in range(len(target.references)):
        problems += _check_reference(name, target, index, targets)
    return problems


def _check_reference(
    name: str, target: TargetConfig, index: int, targets: Mapping[str, TargetConfig]
) -> Problems:
    reference, path = target.references[index], ("references", index)
    problems: Problems = []
    for column in reference.columns:
        if column not in target.columns:
            message = f"references[{index}].columns: {column!r} is not a column of target {name!r}"
            problems.append(((*path, "columns"), message + hint(column, target.columns, "column")))
    parent = targets.get(reference.target)
    if parent is None:
        message = f"references[{index}].target: no target named {reference.target!r}"
        return [
            *problems,
            ((*path, "target"), message + hint(reference.target, targets, "target")),
        ]
    parent_columns = reference.target_columns or parent.key
    for column in reference.target_columns or []:
        if column not in parent.columns:
            message = (
                f"references[{index}].target_columns: {column!r} is not a column of target"
                f" {reference.target!r}"
            )
            problems.append(
                ((*path, "target_columns"), message + hint(column, parent.columns, "column"))
            )
    if len(parent_columns) != len(reference.columns):
        problems.append(
            (
                path,
                f"references[{index}]: {len(reference.columns)} columns refer to"
                f" {len(parent_columns)} columns {parent_columns} of target {reference.target!r};"
                " give target_columns to say which",
            )
        )
    return problems


def source_problems(
    source: SourceConfig, targets: Mapping[str, TargetConfig], sql: SqlCheck = sql_problem
) -> Problems:
    problems: Problems = []
    for name, expression in source.derive.items():
        _check_sql(expression, ("derive", name), f"in derive.{name}", problems, sql)
    for index, output in enumerate(source.outputs):
        problems += _check_output(index, output, targets, sql)
    return problems


def _check_output(
    index: int, output: OutputConfig, targets: Mapping[str, TargetConfig], sql: SqlCheck
) -> Problems:
    path: YamlPath = ("outputs", index)
    problems: Problems = []
    target = targets.get(output.target)
    if target is None:
        message = f"outputs[{index}].target: no target named {output.target!r}"
        problems.append(((*path, "target"), message + hint(output.target, targets, "target")))
    for column, expression in output.columns.items():
        column_path = (*path, "columns", column)
        if target is not None and column not in target.columns:
            message = (
                f"outputs[{index}].columns: {column!r} is not a column of target {output.target!r}"
            )
            problems.append((column_path, message + hint(column, target.columns, "column")))
        what = f"for target column {output.target}.{column}"
        _check_sql(expression, column_path, what, problems, sql)
    _check_sql(output.unnest, (*path, "unnest"), f"in outputs[{index}].unnest", problems, sql)
    return problems
