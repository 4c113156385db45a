"""Load a project folder into a validated ``Project``.

Every problem becomes a ``ConfigError`` that names the file and the line a user has to
edit. When several things are wrong, all of them are reported at once (one
``file:line: message`` per line) so that fixing a project is not a loop of one error per run.

    >>> project = load_project(Path("my_project"))  # doctest: +SKIP
    >>> sorted(project.targets)  # doctest: +SKIP
    ['prospective_orgs']
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import sqlglot
import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from tidegate.config.api import api_match
from tidegate.config.models import (
    IDENTIFIER,
    SECRET,
    OutputConfig,
    Project,
    ProjectConfig,
    SourceConfig,
    TargetConfig,
)
from tidegate.config.redact import hide_passwords
from tidegate.errors import ConfigError
from tidegate.privacy.checks import privacy_problems, subject_problems

__all__ = ["json_schema", "load_project", "yaml_lines"]

ModelT = TypeVar("ModelT", bound=BaseModel)

# A location inside a YAML document: mapping keys and list indexes, from the root.
YamlPath = tuple[str | int, ...]
# Problems found in one file, each at a location of it.
_Problems = list[tuple[YamlPath, str]]

PROJECT_FILE = "tidegate.yml"
_YAML_SUFFIXES = (".yml", ".yaml")


# --------------------------------------------------------------------------- YAML with lines


class _Loader(yaml.SafeLoader):
    """A SafeLoader with YAML 1.2 scalars and no silently duplicated keys.

    YAML 1.1 turns ``NO`` (Norway) into false, ``01234`` (a zip code) into 668, ``12:30``
    into 750 and ``2024-01-31`` into a date object: in a data contract those rewrite
    allowed values and bounds without a word. Here only true/false are booleans, only
    plain decimal or 0x numbers are numbers, and dates stay text for the columns' formats.
    """

    # Its own table, so the resolvers below replace SafeLoader's instead of adding to them.
    yaml_implicit_resolvers = {}  # noqa: RUF012

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                _check_unique(key_node, seen)
                # Keys are names, never values: `null:` (a read option) or `2024:` stay text.
                key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep)


_MERGE = "tag:yaml.org,2002:merge"


def _check_unique(key_node: yaml.ScalarNode, seen: dict[str, int]) -> None:
    # PyYAML keeps the last of two equal keys; the first one would be ignored unseen.
    if key_node.value in seen:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"duplicate key {key_node.value!r} (first on line {seen[key_node.value]})",
            key_node.start_mark,
        )
    seen[key_node.value] = key_node.start_mark.line + 1


_RESOLVERS = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
)
for _tag, _pattern, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def _record_lines(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int]) -> None:
    """Note the line of every mapping key and list item, by its path from the root."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                lines[child] = key_node.start_mark.line + 1
                _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record_lines(item, (*path, index), lines)


@dataclass(frozen=True)
class _Document:
    """One parsed YAML file: its data and the line of every key."""

    file: Path
    data: Any
    lines: Mapping[YamlPath, int]

    def line(self, path: YamlPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def error(self, problems: Iterable[tuple[YamlPath, str]]) -> ConfigError:
        """One ConfigError for the problems, ordered by line; its ``line`` is the first."""
        # Every message may quote a value of the file: none may carry a password.
        located = sorted((self.line(path), hide_passwords(message)) for path, message in problems)
        first_line, first = located[0]
        rest = "".join(f"\n{self.file}:{line}: {message}" for line, message in located[1:])
        return ConfigError(self.file, first + rest, first_line)


def _parse_yaml(file: Path) -> _Document:
    text = _read_text(file)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(file, f"invalid YAML: {exc.problem}{context}", line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(file, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    lines: dict[YamlPath, int] = {(): node.start_mark.line + 1 if node is not None else 1}
    if node is not None:
        _record_lines(node, (), lines)
    return _Document(file, data, lines)


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, f"not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(file, f"cannot read the file: {exc.strerror}") from exc


# --------------------------------------------------------------------------- ${VAR}

# `$${NAME}` is an escape for a literal `${NAME}`.
_VARIABLE = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _UndefinedVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _environment(root: Path) -> dict[str, str]:
    """Variables from ``root/.env``, overridden by the real environment."""
    dotenv = root / ".env"
    values = dotenv_values(dotenv) if dotenv.is_file() else {}
    merged = {name: value for name, value in values.items() if value is not None}
    merged.update(os.environ)
    return merged


def _substitute(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        value = env.get(name)
        if default is not None and not value:  # shell semantics: ':-' also covers empty
            return default
        if value is None:
            raise _UndefinedVariable(name)
        return value

    return _VARIABLE.sub(replace, text)


def _interpolate(value: Any, env: Mapping[str, str], path: YamlPath, problems: _Problems) -> Any:
    """A copy of ``value`` with ``${VAR}`` replaced in every string (never in keys)."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, (*path, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    try:
        return _substitute(value, env)
    except _UndefinedVariable as exc:
        problems.append(
            (
                path,
                f"{_prefix(path)}environment variable {exc.name!r} is not set; set it, add it"
                f" to .env or give a default: ${{{exc.name}:-...}}",
            )
        )
        return value


def _read_document(file: Path, env: Mapping[str, str]) -> _Document:
    document = _parse_yaml(file)
    problems: _Problems = []
    data = _interpolate(document.data, env, (), problems)
    if problems:
        raise document.error(problems)
    return _Document(file, data, document.lines)


# --------------------------------------------------------------------------- validation


def _label(path: YamlPath) -> str:
    """How a location reads in a message: ``column 'phone', pattern`` or ``outputs[0].target``."""
    if len(path) >= 2 and path[0] == "columns":
        rest = _dotted(path[2:])
        return f"column {path[1]!r}" + (f", {rest}" if rest else "")
    return _dotted(path)


def _dotted(path: YamlPath) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text.lstrip(".")


def _show(value: Any) -> str:
    return _clip(repr(_masked(value)))


def _masked(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.search(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


_SECRET_KEY = re.compile(r"password|passwd|^pwd$|secret|vault_key", re.IGNORECASE)


def _clip(text: str) -> str:
    # Hidden before clipping: a URL cut before its '@' would no longer look like one.
    text = hide_passwords(text)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_secret(model: type[BaseModel], path: YamlPath) -> bool:
    """Whether ``path`` is a setting marked ``SECRET`` in the models (privacy.secret, ...),
    or lies inside one (a header of ``api.headers``)."""
    return any(_marked_secret(model, path[:end]) for end in range(1, len(path) + 1))


def _marked_secret(model: type[BaseModel], path: YamlPath) -> bool:
    owner = _model_at(model, path[:-1])
    field = owner.model_fields.get(str(path[-1])) if owner is not None else None
    return field is not None and field.json_schema_extra == SECRET


def _show_at(model: type[BaseModel], path: YamlPath, value: Any) -> str:
    if _is_secret(model, path):
        return f"a value of type {type(value).__name__} (not shown: the setting is a secret)"
    return _show(value)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _hint(word: str, choices: Iterable[str], kind: str) -> str:
    """'; did you mean ...?' or the list of valid names, for a name that is not known."""
    names = sorted(choices)
    match = _closest(word, names)
    if match is not None:
        return f"; did you mean {match!r}?"
    if not names:
        return f"; there are no {kind}s"
    return f"; the {kind}s are: {', '.join(names)}"


def _model_at(model: type[BaseModel], path: YamlPath) -> type[BaseModel] | None:
    """The model class that validates the mapping found at ``path``."""
    candidates: list[Any] = [model]
    for step in path:
        candidates = [child for tp in candidates for child in _children(tp, step)]
    return next((tp for tp in candidates if _is_model(tp)), None)


def _children(annotation: Any, step: str | int) -> list[Any]:
    found: list[Any] = []
    for tp in _flatten(annotation):
        origin = get_origin(tp)
        if _is_model(tp) and isinstance(step, str) and step in tp.model_fields:
            found.extend(_flatten(tp.model_fields[step].annotation))
        elif origin is dict and isinstance(step, str):
            found.extend(_flatten(get_args(tp)[1]))
        elif origin is list and isinstance(step, int):
            found.extend(_flatten(get_args(tp)[0]))
    return found


def _flatten(annotation: Any) -> list[Any]:
    """The alternatives of a union (``X | Y``, ``Optional``), with ``Annotated`` removed."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [tp for arg in get_args(annotation) for tp in _flatten(arg)]
    if hasattr(annotation, "__metadata__"):
        return _flatten(get_args(annotation)[0])
    return [annotation]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _expected(error: ErrorDetails) -> str | None:
    """What a type error expected, or None when the error is not about the type."""
    if error["type"] == "literal_error":
        choices = str(error.get("ctx", {}).get("expected", ""))
        return f"one of {choices}" if " or " in choices else choices
    return _EXPECTED.get(error["type"])


def _resolve(data: Any, loc: tuple[str | int, ...]) -> YamlPath:
    """The part of pydantic's ``loc`` that exists in the data.

    Steps that are not in the data are union member tags (``'list[str]'``), dict key markers
    (``'[key]'``) or the name of a missing key; the location is the data that holds them.
    """
    path: list[str | int] = []
    for step in loc:
        if not _has_step(data, step):
            continue
        data = data[step]
        path.append(step)
    return tuple(path)


def _has_step(data: Any, step: str | int) -> bool:
    if isinstance(data, dict):
        return step in data
    return isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data)


def _describe(error: ErrorDetails, path: YamlPath, model: type[BaseModel]) -> str:
    """One readable sentence for a pydantic error that is not about the value's type."""
    kind = error["type"]
    if kind == "extra_forbidden":
        key, parent = str(path[-1]), path[:-1]
        where = f" in {_label(parent)}" if parent else ""
        owner = _model_at(model, parent)
        valid = list(owner.model_fields) if owner is not None else []
        return f"unknown key {key!r}{where}{_hint(key, valid, 'valid key')}"
    if kind == "missing":
        where = f" in {_label(path)}" if path else ""
        return f"missing required key {error['loc'][-1]!r}{where}"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return _prefix(path) + message
    shown = _show_at(model, path, error["input"])
    return f"{_prefix(path)}{message[:1].lower()}{message[1:]}, got {shown}"


def _prefix(path: YamlPath) -> str:
    label = _label(path)
    return f"{label}: " if label else ""


def _problems(data: Any, errors: list[ErrorDetails], model: type[BaseModel]) -> _Problems:
    """Turn pydantic's errors into (location, message) pairs, one per real problem.

    For a union, pydantic reports one error per member. A type error is dropped when
    another error lies deeper below the same place (the value had the shape of another
    member, whose error is the useful one); the type errors left at one place become a
    single "expected A or B" message.
    """
    located = [(_resolve(data, tuple(error["loc"])), error) for error in errors]
    problems: _Problems = []
    expected_at: dict[YamlPath, tuple[list[str], Any]] = {}
    for path, error in located:
        expected = _expected(error)
        if expected is None:
            problems.append((path, _describe(error, path, model)))
        elif not any(len(other) > len(path) and other[: len(path)] == path for other, _ in located):
            expected_at.setdefault(path, ([], error["input"]))[0].append(expected)
    for path, (expected_list, value) in expected_at.items():
        message = f"expected {' or '.join(expected_list)}, got {_show_at(model, path, value)}"
        problems.append((path, _prefix(path) + message))
    return problems


def _validate(document: _Document, model: type[ModelT]) -> ModelT:
    data = {} if document.data is None else document.data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Not chained: pydantic's text quotes every input value, secrets included.
        raise document.error(_problems(data, exc.errors(), model)) from None


# --------------------------------------------------------------------------- files


def _yaml_files(folder: Path, kind: str) -> dict[str, Path]:
    """``name -> file`` for every ``*.yml``/``*.yaml`` file; names must be identifiers."""
    files: dict[str, Path] = {}
    if not folder.is_dir():
        return files
    for file in sorted(p for p in folder.iterdir() if p.suffix in _YAML_SUFFIXES):
        _check_name(file, kind)
        if file.stem in files:
            raise ConfigError(file, f"{kind} {file.stem!r} is also defined in {files[file.stem]}")
        files[file.stem] = file
    return files


def _check_name(file: Path, kind: str) -> None:
    if not IDENTIFIER.match(file.stem):
        raise ConfigError(
            file,
            f"{kind} name {file.stem!r} (the file name) must be an identifier: letters, digits"
            " and underscores, not starting with a digit; rename the file",
        )


def _read_models(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    models: dict[str, str] = {}
    for file in sorted(folder.glob("*.sql")):
        _check_name(file, "model")
        models[file.stem] = _read_text(file)
    return models


def _project_file(root: Path) -> Path:
    for name in (PROJECT_FILE, "tidegate.yaml"):
        if (root / name).is_file():
            return root / name
    raise ConfigError(
        root / PROJECT_FILE,
        f"no {PROJECT_FILE} in {root}: this is not a tidegate project; run `tidegate init`"
        " to create one, or point to the project folder",
    )


def _collect(
    files: Mapping[str, Path],
    model: type[ModelT],
    env: Mapping[str, str],
    failures: list[ConfigError],
) -> dict[str, tuple[_Document, ModelT]]:
    """Read and validate each file, going on after a failure so that all are reported."""
    loaded: dict[str, tuple[_Document, ModelT]] = {}
    for name, file in files.items():
        try:
            document = _read_document(file, env)
            loaded[name] = document, _validate(document, model)
        except ConfigError as exc:
            failures.append(exc)
    return loaded


def _combine(failures: list[ConfigError]) -> ConfigError:
    first, rest = failures[0], failures[1:]
    return ConfigError(first.path, "\n".join([first.message, *map(str, rest)]), first.line)


# --------------------------------------------------------------------------- cross-file checks

# Statements parse as SQL too, but a mapping or a check must be one expression.
_STATEMENTS = (exp.DDL, exp.DML, exp.Command, exp.Drop, exp.Block, exp.Pragma, exp.Attach)


def _sql_problem(expression: str) -> str | None:
    """Why ``expression`` is not a DuckDB SQL expression, or None when it is one."""
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
    if isinstance(tree, _STATEMENTS) or (
        isinstance(tree, exp.Query) and not isinstance(tree, exp.Subquery)
    ):
        return f"expected an expression, got a {tree.key.upper()} statement"
    return None


def _check_sql(expression: str | None, path: YamlPath, what: str, problems: _Problems) -> None:
    if expression is None:
        return
    problem = _sql_problem(expression)
    if problem is not None:
        shown = _clip(" ".join(expression.split()))  # one line, whatever the YAML layout
        problems.append((path, f"invalid SQL {what}: {problem}, in `{shown}`"))


def _check_target(
    name: str, target: TargetConfig, targets: Mapping[str, TargetConfig]
) -> _Problems:
    problems: _Problems = []
    columns = target.columns
    for column, spec in columns.items():
        _check_sql(
            spec.check, ("columns", column, "check"), f"in the check of column {column!r}", problems
        )
    if isinstance(target.history.track, list):
        for index, column in enumerate(target.history.track):
            if column not in columns:
                message = f"history.track: {column!r} is not a column of target {name!r}"
                problems.append(
                    (("history", "track", index), message + _hint(column, columns, "column"))
                )
    problems += subject_problems(name, targets)
    for index in range(len(target.references)):
        problems += _check_reference(name, target, index, targets)
    return problems


def _check_reference(
    name: str, target: TargetConfig, index: int, targets: Mapping[str, TargetConfig]
) -> _Problems:
    reference, path = target.references[index], ("references", index)
    problems: _Problems = []
    for column in reference.columns:
        if column not in target.columns:
            message = f"references[{index}].columns: {column!r} is not a column of target {name!r}"
            problems.append(((*path, "columns"), message + _hint(column, target.columns, "column")))
    parent = targets.get(reference.target)
    if parent is None:
        message = f"references[{index}].target: no target named {reference.target!r}"
        return [
            *problems,
            ((*path, "target"), message + _hint(reference.target, targets, "target")),
        ]
    parent_columns = reference.target_columns or parent.key
    for column in reference.target_columns or []:
        if column not in parent.columns:
            message = (
                f"references[{index}].target_columns: {column!r} is not a column of target"
                f" {reference.target!r}"
            )
            problems.append(
                ((*path, "target_columns"), message + _hint(column, parent.columns, "column"))
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


def _check_source(source: SourceConfig, targets: Mapping[str, TargetConfig]) -> _Problems:
    problems: _Problems = []
    for name, expression in source.derive.items():
        _check_sql(expression, ("derive", name), f"in derive.{name}", problems)
    for index, output in enumerate(source.outputs):
        problems += _check_output(index, output, targets)
    return problems


def _check_output(
    index: int, output: OutputConfig, targets: Mapping[str, TargetConfig]
) -> _Problems:
    path: YamlPath = ("outputs", index)
    problems: _Problems = []
    target = targets.get(output.target)
    if target is None:
        message = f"outputs[{index}].target: no target named {output.target!r}"
        problems.append(((*path, "target"), message + _hint(output.target, targets, "target")))
    for column, expression in output.columns.items():
        column_path = (*path, "columns", column)
        if target is not None and column not in target.columns:
            message = (
                f"outputs[{index}].columns: {column!r} is not a column of target {output.target!r}"
            )
            problems.append((column_path, message + _hint(column, target.columns, "column")))
        _check_sql(expression, column_path, f"for target column {output.target}.{column}", problems)
    _check_sql(output.unnest, (*path, "unnest"), f"in outputs[{index}].unnest", problems)
    return problems


# --------------------------------------------------------------------------- public API


def load_project(root: Path) -> Project:
    """Read and validate every file of the project in ``root``.

    Raises ``ConfigError`` naming the file and line of the first problem; its message
    lists every problem found, one ``file:line: message`` per line.
    """
    root = Path(root)
    env = _environment(root)
    failures: list[ConfigError] = []
    project_file = _project_file(root)
    config = _collect({PROJECT_FILE: project_file}, ProjectConfig, env, failures)
    targets = _collect(_yaml_files(root / "targets", "target"), TargetConfig, env, failures)
    sources = _collect(_yaml_files(root / "sources", "source"), SourceConfig, env, failures)
    models = _read_models(root / "models")
    if failures:
        raise _combine(failures)

    target_models = {name: target for name, (_, target) in targets.items()}
    document, project_config = config[PROJECT_FILE]
    if problems := privacy_problems(project_config.privacy, target_models):
        failures.append(document.error(problems))
    for name, (document, target) in targets.items():
        if problems := _check_target(name, target, target_models):
            failures.append(document.error(problems))
    for document, source in sources.values():
        if problems := _check_source(source, target_models):
            failures.append(document.error(problems))
    if failures:
        raise _combine(failures)

    return Project(
        root=root,
        config=config[PROJECT_FILE][1],
        targets=target_models,
        sources={name: routed(name, source) for name, (_, source) in sources.items()},
        models=models,
    )


def routed(name: str, source: SourceConfig) -> SourceConfig:
    """An ``api:`` source without ``match`` takes the files its pulls land."""
    if source.api is None or source.match is not None:
        return source
    return source.model_copy(update={"match": api_match(name)})


def json_schema() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the three kinds of project file, keyed by the files they describe.

    Editors use them for completion and inline errors, e.g. with the YAML language server:
    ``# yaml-language-server: $schema=target.schema.json`` at the top of a target file.
    """
    return {
        PROJECT_FILE: ProjectConfig.model_json_schema(),
        "targets/*.yml": TargetConfig.model_json_schema(),
        "sources/*.yml": SourceConfig.model_json_schema(),
    }


def locate(root: Path, folder: str, name: str, path: YamlPath) -> tuple[Path, int]:
    """The file of ``<folder>/<name>.yml`` in a project and the line of ``path`` in it,
    so that an error met while running an expression can point at where it was written.

    ``locate(root, "sources", "people", ("outputs", 0, "columns", "id"))``
    """
    file = _yaml_files(root / folder, folder.rstrip("s")).get(name, root / folder / f"{name}.yml")
    try:
        return file, _parse_yaml(file).line(path)
    except ConfigError:  # changed or removed since the project was loaded
        return file, 1


def yaml_lines(file: Path) -> Callable[[YamlPath], int]:
    """The line of a location (its keys and list indexes from the root) in a project file,
    for problems found after loading it, as ``tidegate check`` finds them."""
    return _parse_yaml(file).line
