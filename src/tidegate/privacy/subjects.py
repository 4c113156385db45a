"""Who the rows of each target belong to, from the targets' ``subject`` declarations.

    subject target   ``subject: id``: its rows are data subjects, identified by ``id``
                     (and by its ``identifiers``, such as ``email``)
    direct link      ``subject: {column: customer_id, of: customers}``: a row belongs to the
                     subject its column names
    chained link     ``subject: {column: transaction_id, of: transactions}``: a row belongs to
                     whoever the pointed-to row of a linked target belongs to
    erase target     ``load: erase``: each row is an erasure request; its columns are
                     identifier names (``customer_id``, ``email``)

An identifier *name* is how requests and ``tidegate erase --subject NAME=VALUE`` call an
identifier: a subject target's subject column or identifier (``id``, ``email``, or
qualified, ``customers.id``), or the column name of a direct link (``customer_id``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from tidegate.config.models import ColumnSpec, SourceConfig, TargetConfig
from tidegate.errors import ConfigError

if TYPE_CHECKING:
    from sqlglot import exp


@dataclass(frozen=True)
class Identifier:
    """Where an identifier name leads: a column of a subject target."""

    subject: str  # the subject target
    column: str  # its column holding the identifier

    def is_key(self, graph: Graph) -> bool:
        return graph.key_of(self.subject) == self.column


class Graph:
    """The subject declarations of a project's targets, resolved."""

    def __init__(self, targets: Mapping[str, TargetConfig]) -> None:
        self.targets = targets

    @cached_property
    def roots(self) -> list[str]:
        """The subject targets."""
        return [
            name
            for name, t in self.targets.items()
            if t.subject and t.subject.column and not t.subject.of and t.load != "erase"
        ]

    @cached_property
    def bearing(self) -> list[str]:
        """Targets whose rows belong to subjects (not erase targets)."""
        return [n for n, t in self.targets.items() if t.subject and t.load != "erase"]

    @cached_property
    def erase_targets(self) -> list[str]:
        return [n for n, t in self.targets.items() if t.load == "erase"]

    def key_of(self, root: str) -> str:
        spec = self.targets[root].subject
        assert spec is not None and spec.column is not None
        return spec.column

    def parent(self, name: str) -> str | None:
        spec = self.targets[name].subject
        return spec.of if spec and name not in self.roots else None

    def to_column(self, name: str) -> str:
        """The column of the parent target that ``name``'s subject column points to."""
        spec = self.targets[name].subject
        assert spec is not None and spec.of is not None
        if spec.to:
            return spec.to
        parent = self.targets[spec.of]
        if parent.subject and parent.subject.column and spec.of in self.roots:
            return parent.subject.column
        if len(parent.key) == 1:
            return parent.key[0]
        raise ConfigError(
            f"targets/{name}.yml",
            f"subject.to: say which column of target {spec.of!r} {spec.column!r} points to",
        )

    def root_of(self, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        if name in self.roots:
            return name
        parent = self.parent(name)
        if parent is None or parent in seen or parent not in self.targets:
            return None
        return self.root_of(parent, seen | {name})

    def is_direct(self, name: str) -> bool:
        """A root, or a target whose subject column holds the root's subject key."""
        parent = self.parent(name)
        return name in self.roots or (parent in self.roots and parent is not None)

    def column_of(self, name: str) -> str | None:
        spec = self.targets[name].subject
        return spec.column if spec else None

    def depth(self, name: str) -> int:
        parent = self.parent(name)
        return 0 if parent is None or name in self.roots else 1 + self.depth(parent)

    def children_first(self) -> list[str]:
        """Subject-bearing targets, the farthest from their subject first."""
        return sorted(self.bearing, key=lambda n: (-self.depth(n), n))

    # -- identifier names -------------------------------------------------------------

    def identifiers_of(self, root: str) -> list[str]:
        spec = self.targets[root].subject
        assert spec is not None
        return [self.key_of(root), *spec.identifiers]

    def names(self) -> dict[str, set[Identifier]]:
        """Every identifier name and where it may lead."""
        found: dict[str, set[Identifier]] = {}
        for root in self.roots:
            for column in self.identifiers_of(root):
                for name in (column, f"{root}.{column}"):
                    found.setdefault(name, set()).add(Identifier(root, column))
        for name in self.bearing:
            parent, link = self.parent(name), self.column_of(name)
            if parent in self.roots and parent is not None and link is not None:
                found.setdefault(link, set()).add(Identifier(parent, self.to_column(name)))
        return found

    def resolve(self, name: str, subject: str | None = None) -> Identifier:
        """The identifier an identifier name means, or ConfigError naming the choices."""
        options = self.names().get(name, set())
        if subject is not None:
            options = {o for o in options if o.subject == subject}
        if len(options) == 1:
            return next(iter(options))
        choices = sorted(self.names())
        if not options:
            raise ConfigError(
                "subject", f"{name!r} is not an identifier of a data subject; use one of {choices}"
            )
        raise ConfigError("subject", f"{name!r} is ambiguous; qualify it: {choices}")

    def erase_identifiers(self, name: str) -> dict[str, Identifier]:
        """Column -> identifier, for the columns of an erase target."""
        target = self.targets[name]
        of = target.subject.of if target.subject else None
        return {column: self.resolve(column, of) for column in target.columns}

    # -- personal columns -------------------------------------------------------------

    def personal_columns(self, name: str) -> list[str]:
        """Columns that erasing with ``anonymise`` empties: pii columns, and the columns
        that identify the subject (a chained link only points at another row: kept)."""
        target = self.targets[name]
        found = [c for c, spec in target.columns.items() if spec.pii]
        if name in self.roots:
            found += self.identifiers_of(name)
        elif self.is_direct(name) and self.column_of(name):
            found.append(str(self.column_of(name)))
        return list(dict.fromkeys(found))

    def protected_columns(self, name: str) -> set[str]:
        """Columns whose values an anonymised quarantine row's reasons no longer show:
        the personal columns, and every column of an erase target."""
        target = self.targets[name]
        columns = {c for c, spec in target.columns.items() if spec.pii}
        if target.load == "erase":
            columns |= set(target.columns)
        return columns | set(self.personal_columns(name))


def file_columns(source: SourceConfig, output_index: int, columns: list[str]) -> set[str]:
    """The file columns that the mappings of ``columns`` (in one output) read.

    The mappings are parsed here, and sqlglot imported only then: the configuration's
    checks use this module, and loading a project must not import sqlglot for them.
    """
    from tidegate.sql import parse
    from tidegate.transform.mapping import BOUND_NAMES

    output = source.outputs[output_index]
    bound = BOUND_NAMES | {output.unnest_as}
    found: set[str] = set()
    for column in columns:
        expression = output.columns.get(column)
        if expression:
            found |= _reads(parse(expression), source, bound)
    return found


def _reads(expression: exp.Expr, source: SourceConfig, bound: set[str]) -> set[str]:
    """File columns an expression reads, through the source's derived values."""
    from tidegate.sql import parse
    from tidegate.transform.mapping import referenced_columns

    names = referenced_columns(expression, bound)
    direct = {n for n in names if n not in source.derive}
    for name in names & set(source.derive):
        direct |= _reads(parse(source.derive[name]), source, bound)
    return direct


def outputs_of(source: SourceConfig) -> Iterator[tuple[int, str]]:
    for index, output in enumerate(source.outputs):
        yield index, output.target


def personal_file_columns(
    source: SourceConfig, targets: Mapping[str, TargetConfig]
) -> dict[str, ColumnSpec]:
    """File column -> the strictest pii spec among the target columns it feeds."""
    from tidegate.privacy.policies import strictest

    feeds: dict[str, list[ColumnSpec]] = {}
    for index, name in outputs_of(source):
        target = targets[name]
        for column, spec in target.columns.items():
            if spec.pii:
                for read in file_columns(source, index, [column]):
                    feeds.setdefault(read, []).append(spec)
    return {column: strictest(specs) for column, specs in feeds.items()}


def erased_file_columns(source: SourceConfig, graph: Graph) -> set[str]:
    """File columns emptied when a record of this source is anonymised."""
    found: set[str] = set()
    for index, name in outputs_of(source):
        if name in graph.targets:
            columns = (
                list(graph.targets[name].columns)
                if name in graph.erase_targets
                else graph.personal_columns(name)
            )
            found |= file_columns(source, index, columns)
    return found


def record_policy(source: SourceConfig, graph: Graph) -> str:
    """``delete`` or ``anonymise``: what erasing does to a whole record of this source.

    A record is deleted when its first output's target deletes its rows (or is an erase
    target), so a source of customers loses the record and a source of orders keeps it.
    """
    if not source.outputs:
        return "delete"
    first = source.outputs[0].target
    target = graph.targets.get(first)
    if target is None or target.load == "erase" or first not in graph.bearing:
        return "delete" if target is not None and target.load == "erase" else "anonymise"
    return target.erase


def identifying_columns(name: str, graph: Graph) -> list[str]:
    """The columns of a subject-bearing target that hold a subject's identifier."""
    if name in graph.roots:
        return graph.identifiers_of(name)
    column = graph.column_of(name)
    return [column] if column is not None and graph.is_direct(name) else []


def key_names(root: str, graph: Graph) -> set[str]:
    """Names a column holding the subject key goes by elsewhere: the links to it
    (``customer_id``) and the subject target's name and key (``customer_id``, ``customers_id``)."""
    key = graph.key_of(root)
    names = {f"{root}_{key}", f"{root.removesuffix('s')}_{key}", f"{root}.{key}"}
    for name in graph.bearing:
        if name != root and graph.parent(name) == root and graph.is_direct(name):
            names.add(str(graph.column_of(name)))
    return names


def undeclared_holders(
    root: str, graph: Graph, sources: Mapping[str, SourceConfig]
) -> dict[str, dict[str, str]]:
    """Targets that declare no subject but hold the subject's values: target -> column ->
    why (the key's name, or the file column it is mapped from like an identifier)."""
    undeclared = [
        n for n in graph.targets if n not in graph.bearing and n not in graph.erase_targets
    ]
    found: dict[str, dict[str, str]] = {}
    names = key_names(root, graph)
    for name in undeclared:
        for column in graph.targets[name].columns:
            if column in names:
                found.setdefault(name, {})[column] = f"named like the key of {root}"
    for label, source in sources.items():
        for target, columns in _mapped_like_identifiers(root, graph, label, source).items():
            for column, why in columns.items():
                found.setdefault(target, {}).setdefault(column, why)
    return found


def _mapped_like_identifiers(
    root: str, graph: Graph, label: str, source: SourceConfig
) -> dict[str, dict[str, str]]:
    """Columns of undeclared targets mapped from a file column that feeds an identifier."""
    feeding: dict[str, str] = {}  # file column -> "target.column" of the identifier it feeds
    for index, name in outputs_of(source):
        if name in graph.targets and name in graph.bearing and graph.root_of(name) == root:
            for column in identifying_columns(name, graph):
                for read in file_columns(source, index, [column]):
                    feeding.setdefault(read.lower(), f"{name}.{column}")
    found: dict[str, dict[str, str]] = {}
    for index, name in outputs_of(source):
        if name not in graph.targets or name in graph.bearing or name in graph.erase_targets:
            continue
        for column in graph.targets[name].columns:
            reads = {r.lower() for r in file_columns(source, index, [column])}
            for read in sorted(reads & set(feeding)):
                why = f"mapped from {label}'s {read!r} like {feeding[read]}"
                found.setdefault(name, {}).setdefault(column, why)
    return found
