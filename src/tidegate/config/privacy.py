"""The configuration's checks for personal data: subjects that link up, and the keys their
policies need; the loader reports them by line."""

from __future__ import annotations

from collections.abc import Mapping

from tidegate.config.document import Problems
from tidegate.config.models import PrivacyConfig, TargetConfig
from tidegate.errors import ConfigError
from tidegate.privacy.subjects import Graph


def subject_problems(name: str, targets: Mapping[str, TargetConfig]) -> Problems:
    """What is wrong with the ``subject`` of target ``name``."""
    target = targets[name]
    spec = target.subject
    if spec is None:
        return _erase_without_subject(name, target, targets)
    problems: Problems = []
    for label, column in [("column", spec.column), *(("identifiers", c) for c in spec.identifiers)]:
        if column is not None and column not in target.columns:
            problems.append(
                (("subject", label), f"subject.{label}: {column!r} is not a column of {name!r}")
            )
    if spec.of is not None and spec.of not in targets:
        problems.append((("subject", "of"), f"subject.of: no target named {spec.of!r}"))
    if problems:
        return problems
    if target.load == "erase":
        return _erase_problems(name, targets)
    if spec.column is None:
        return [(("subject",), "subject: name the column that identifies the subject")]
    return _link_problems(name, targets) if spec.of else _root_problems(name, target)


def _erase_without_subject(
    name: str, target: TargetConfig, targets: Mapping[str, TargetConfig]
) -> Problems:
    return _erase_problems(name, targets) if target.load == "erase" else []


def _root_problems(name: str, target: TargetConfig) -> Problems:
    spec = target.subject
    assert spec is not None and spec.column is not None
    problems: Problems = []
    for column in [spec.column, *spec.identifiers]:
        pii = target.columns[column].pii
        if pii in ("mask", "drop"):
            problems.append(
                (
                    ("columns", column, "pii"),
                    f"column {column!r} identifies the subject, so it cannot be pii: {pii}"
                    " (use hash or tokenize: they can still be matched)",
                )
            )
    return problems


def _link_problems(name: str, targets: Mapping[str, TargetConfig]) -> Problems:
    graph = Graph(targets)
    spec = targets[name].subject
    assert spec is not None and spec.of is not None and spec.column is not None
    try:
        to = graph.to_column(name)
    except ConfigError as exc:
        return [(("subject", "of"), exc.message)]
    parent = targets[spec.of]
    if to not in parent.columns:
        return [(("subject", "to"), f"subject.to: {to!r} is not a column of {spec.of!r}")]
    if graph.root_of(name) is None:
        return [(("subject", "of"), f"subject.of: {spec.of!r} leads to no subject target")]
    mine, theirs = targets[name].columns[spec.column].pii, parent.columns[to].pii
    if mine != theirs:
        return [
            (
                ("subject", "column"),
                f"subject.column {spec.column!r} (pii: {mine}) must be stored like"
                f" {spec.of}.{to} (pii: {theirs}), or the rows cannot be matched",
            )
        ]
    return []


def _erase_problems(name: str, targets: Mapping[str, TargetConfig]) -> Problems:
    graph = Graph(targets)
    problems: Problems = []
    spec = targets[name].subject
    of = spec.of if spec is not None else None
    for column in targets[name].columns:
        try:
            graph.resolve(column, of)
        except ConfigError as exc:
            problems.append((("columns", column), f"load: erase: column {exc.message}"))
    return problems


def privacy_problems(config: PrivacyConfig, targets: Mapping[str, TargetConfig]) -> Problems:
    """Keys the targets need but tidegate.yml does not give."""
    policies = {spec.pii for t in targets.values() for spec in t.columns.values()}
    subjects = [n for n, t in targets.items() if t.subject or t.load == "erase"]
    problems: Problems = []
    needs = [p for p in ("hash", "tokenize") if p in policies]
    if (needs or subjects) and not config.secret:
        why = f"pii: {' and '.join(needs)}" if needs else f"subjects ({', '.join(subjects)})"
        problems.append(
            (
                ("privacy", "secret"),
                f"privacy.secret is not set, and the targets use {why}; set it from the"
                " environment: privacy: {secret: ${TIDEGATE_SECRET}}",
            )
        )
    return problems
