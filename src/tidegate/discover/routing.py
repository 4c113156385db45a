"""Routing: which source a landing file belongs to, by glob or by the columns it carries."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping

from tidegate.config.models import ColumnMatch, SourceConfig
from tidegate.discover.landing import LandingFile
from tidegate.errors import RoutingError

ColumnPeek = Callable[[LandingFile, SourceConfig], list[str]]


def glob_matches(pattern: str, file: LandingFile) -> bool:
    """A glob without '/' matches the file name; with '/', the path under landing.

    Matching ignores case: vendors change the case of names more often than their content.
    """
    subject = file.relative if "/" in pattern else file.name
    return fnmatch.fnmatch(subject.lower(), pattern.lower())


def columns_match(wanted: ColumnMatch, found: list[str]) -> bool:
    present = {name.strip().lower() for name in found}
    return all(name.strip().lower() in present for name in wanted.columns)


def matches(source: SourceConfig, file: LandingFile, peek: ColumnPeek) -> bool:
    if isinstance(source.match, ColumnMatch):
        try:
            return columns_match(source.match, peek(file, source))
        except Exception:  # an unreadable file matches no column rule; it is rejected later
            return False
    return any(glob_matches(pattern, file) for pattern in source.globs)


def route(file: LandingFile, sources: Mapping[str, SourceConfig], peek: ColumnPeek) -> str:
    """The one source this file belongs to; the highest ``priority`` breaks ties."""
    found = [name for name, source in sources.items() if matches(source, file, peek)]
    if not found:
        raise RoutingError(file.relative, "matches no source (check the sources' 'match')")
    if len(found) > 1:
        top = max(sources[name].priority for name in found)
        found = [name for name in found if sources[name].priority == top]
    if len(found) > 1:
        raise RoutingError(file.relative, f"matches several sources: {sorted(found)}")
    return found[0]
