"""Project files as YAML with line numbers: YAML 1.2 scalars, no duplicated keys, and the
line of every key and list item, so that every problem can name the line to edit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tidegate.config.redact import hide_passwords
from tidegate.errors import ConfigError

__all__ = ["Document", "Problems", "YamlPath", "parse_yaml", "read_text"]

# A location inside a YAML document: mapping keys and list indexes, from the root.
YamlPath = tuple[str | int, ...]
# Problems found in one file, each at a location of it.
Problems = list[tuple[YamlPath, str]]


class _Keys(yaml.constructor.SafeConstructor):
    """No silently duplicated keys, and keys always text: the rule of both loaders below."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                _check_unique(key_node, seen)
                # Keys are names, never values: `null:` (a read option) or `2024:` stay text.
                key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep)


class _Loader(_Keys, yaml.SafeLoader):
    """A SafeLoader with YAML 1.2 scalars and no silently duplicated keys.

    YAML 1.1 turns ``NO`` (Norway) into false, ``01234`` (a zip code) into 668, ``12:30``
    into 750 and ``2024-01-31`` into a date object: in a data contract those rewrite
    allowed values and bounds without a word. Here only true/false are booleans, only
    plain decimal or 0x numbers are numbers, and dates stay text for the columns' formats.
    """

    # Its own table, so the resolvers below replace SafeLoader's instead of adding to them.
    yaml_implicit_resolvers = {}  # noqa: RUF012


class _FastLoader(_Keys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """``_Loader`` over libyaml's parser, where PyYAML has it: the same scalars and keys,
    parsed in C (a drafted target of 10,000 columns took 1.2 s of CPU in the pure-Python
    parser). A document it refuses is read again by ``_Loader``, so that every problem is
    worded, and placed, as ever."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012


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
    for _loader in (_Loader, _FastLoader):
        _loader.add_implicit_resolver(
            f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first)
        )


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
class Document:
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


def parse_yaml(file: Path) -> Document:
    text = read_text(file)
    try:
        node, data = _compose(_FastLoader, text)
    except yaml.YAMLError:
        node, data = _parsed(file, text)
    lines: dict[YamlPath, int] = {(): node.start_mark.line + 1 if node is not None else 1}
    if node is not None:
        _record_lines(node, (), lines)
    return Document(file, data, lines)


def _compose(kind: type[yaml.SafeLoader], text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree and its data, read by a loader of ``kind``."""
    loader = kind(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _parsed(file: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """``_compose`` by the pure-Python loader, its problems as a ConfigError with a line."""
    try:
        return _compose(_Loader, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(file, f"invalid YAML: {exc.problem}{context}", line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(file, f"invalid YAML: {exc}") from exc


def read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, f"not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(file, f"cannot read the file: {exc.strerror}") from exc
