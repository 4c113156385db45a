"""``tidegate check`` against the files waiting in landing: does each mapping find its columns?"""

from __future__ import annotations

from pathlib import Path

from tidegate import schema
from tidegate.config.models import Project
from tidegate.discover import route
from tidegate.discover.landing import LandingFile, candidates, partitions_of
from tidegate.errors import TidegateError
from tidegate.read import peek_columns
from tidegate.transform.mapping import missing_columns
from tidegate.warehouse.base import Warehouse


def _probe(landing: Path, path: Path) -> LandingFile:
    """A landing file described without hashing it: check only needs its name and header."""
    relative = path.relative_to(landing)
    stat = path.stat()
    return LandingFile(
        path, relative.as_posix(), stat.st_size, stat.st_mtime, "", partitions_of(relative)
    )


def check_samples(project: Project) -> list[str]:
    """One message per landing file that matches no source, or lacks mapped columns.

    Nothing is hashed, moved or loaded.
    """
    landing = project.path("landing")
    problems = []
    for path in candidates(landing):
        file = _probe(landing, path)
        try:
            name = route(file, project.sources, lambda f, s: peek_columns(f.path, s.read, s.format))
            source = project.sources[name]
            found = peek_columns(file.path, source.read, source.format)
        except TidegateError as exc:
            problems.append(str(exc))
            continue
        missing = missing_columns(source, found)
        if missing:
            problems.append(
                f"{file.relative}: source {name} maps columns {missing} that the file does not have; it has {found}"
            )
    return problems


def check_tables(wh: Warehouse, project: Project) -> tuple[list[str], list[str]]:
    """(problems, notes): per target, how its table differs from its YAML.

    A problem is a change no load will make (``targets/x.yml:LINE: ...`` with what to do);
    a note is one the next file makes itself, or a table the next run creates.
    """
    problems: list[str] = []
    notes: list[str] = []
    for found in schema.report(wh, project):
        if not found.exists:
            notes.append(f"target {found.target}: no table yet; the next run makes it, empty")
            continue
        problems += [str(schema.located(project, [d])) for d in found.unsafe]
        notes += [
            f"target {found.target}: {d.describe()}"
            + ("" if d.kind == "extra" else " (the next file applies it)")
            for d in found.changes
            if d.safe
        ]
    return problems, notes
