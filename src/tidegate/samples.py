"""``tidegate check`` against the files waiting in landing: does each mapping find its columns?"""

from __future__ import annotations

from pathlib import Path

from tidegate.config.models import Project
from tidegate.discover import route
from tidegate.discover.landing import LandingFile, candidates, partitions_of
from tidegate.errors import TidegateError
from tidegate.read import peek_columns
from tidegate.transform.mapping import missing_columns


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
