"""The wording of configuration errors: pydantic's errors as one sentence each, at the
location a user has to edit, with secrets hidden and a "did you mean" for misspelt names."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tidegate.config.document import Document, Problems, YamlPath
from tidegate.config.models import SECRET
from tidegate.config.redact import hide_passwords

__all__ = ["clip", "hint", "prefix", "validate"]

ModelT = TypeVar("ModelT", bound=BaseModel)


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
    return clip(repr(_masked(value)))


def _masked(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.search(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


_SECRET_KEY = re.compile(r"password|passwd|^pwd$|secret|vault_key", re.IGNORECASE)


def clip(text: str) -> str:
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


def hint(word: str, choices: Iterable[str], kind: str) -> str:
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
        return f"unknown key {key!r}{where}{hint(key, valid, 'valid key')}"
    if kind == "missing":
        where = f" in {_label(path)}" if path else ""
        return f"missing required key {error['loc'][-1]!r}{where}"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return prefix(path) + message
    shown = _show_at(model, path, error["input"])
    return f"{prefix(path)}{message[:1].lower()}{message[1:]}, got {shown}"


def prefix(path: YamlPath) -> str:
    label = _label(path)
    return f"{label}: " if label else ""


def _problems(data: Any, errors: list[ErrorDetails], model: type[BaseModel]) -> Problems:
    """Turn pydantic's errors into (location, message) pairs, one per real problem.

    For a union, pydantic reports one error per member. A type error is dropped when
    another error lies deeper below the same place (the value had the shape of another
    member, whose error is the useful one); the type errors left at one place become a
    single "expected A or B" message.
    """
    located = [(_resolve(data, tuple(error["loc"])), error) for error in errors]
    problems: Problems = []
    expected_at: dict[YamlPath, tuple[list[str], Any]] = {}
    for path, error in located:
        expected = _expected(error)
        if expected is None:
            problems.append((path, _describe(error, path, model)))
        elif not any(len(other) > len(path) and other[: len(path)] == path for other, _ in located):
            expected_at.setdefault(path, ([], error["input"]))[0].append(expected)
    for path, (expected_list, value) in expected_at.items():
        message = f"expected {' or '.join(expected_list)}, got {_show_at(model, path, value)}"
        problems.append((path, prefix(path) + message))
    return problems


def validate(document: Document, model: type[ModelT]) -> ModelT:
    data = {} if document.data is None else document.data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Not chained: pydantic's text quotes every input value, secrets included.
        raise document.error(_problems(data, exc.errors(), model)) from None
