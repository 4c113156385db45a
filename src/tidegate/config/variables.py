"""``${VAR}`` in project files: replaced from the environment and the project's ``.env``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tidegate.config.document import Document, Problems, YamlPath, parse_yaml
from tidegate.config.inputs import VARIABLE
from tidegate.config.wording import prefix

__all__ = ["environment", "read_document"]


class _UndefinedVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def environment(root: Path) -> dict[str, str]:
    """Variables from ``root/.env``, overridden by the real environment (python-dotenv is
    imported only for a project that has the file: a tenth of an empty run otherwise)."""
    dotenv = root / ".env"
    values: dict[str, str | None] = {}
    if dotenv.is_file():
        from dotenv import dotenv_values

        values = dict(dotenv_values(dotenv))
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

    return VARIABLE.sub(replace, text)  # `$${NAME}` is an escape for a literal `${NAME}`


def _interpolate(value: Any, env: Mapping[str, str], path: YamlPath, problems: Problems) -> Any:
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
                f"{prefix(path)}environment variable {exc.name!r} is not set; set it, add it"
                f" to .env or give a default: ${{{exc.name}:-...}}",
            )
        )
        return value


def read_document(file: Path, env: Mapping[str, str]) -> Document:
    document = parse_yaml(file)
    problems: Problems = []
    data = _interpolate(document.data, env, (), problems)
    if problems:
        raise document.error(problems)
    return Document(file, data, document.lines)
