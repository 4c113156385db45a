"""``tidegate check`` against the files waiting in landing: does each mapping find its columns?"""

from __future__ import annotations

from pathlib import PurePosixPath

from tidegate import schema
from tidegate.config.models import Project
from tidegate.discover import route
from tidegate.discover.landing import LandingFile, entries, partitions_of
from tidegate.errors import TidegateError
from tidegate.read import peek_columns
from tidegate.store import Entry, Store, project_store
from tidegate.store.spool import Spool
from tidegate.transform.mapping import missing_columns
from tidegate.warehouse.base import Warehouse


def _probe(store: Store, entry: Entry, spool: Spool) -> LandingFile:
    """A landing file described without hashing it: check only needs its name and header.
    An object is copied once into the spool to be peeked at, as a run would read it."""
    path = store.local_path(entry.key)
    if path is None:
        path, _ = spool.fill(store, entry.key)
    relative = PurePosixPath(entry.key)
    return LandingFile(
        path, entry.key, entry.size, entry.mtime, "", partitions_of(relative), entry.etag, store
    )


def check_samples(project: Project) -> list[str]:
    """One message per landing file that matches no source, or lacks mapped columns.

    Nothing is moved or loaded; on an object store each file is downloaded once to read
    its header, into ``.tidegate/spool/``, and removed after.
    """
    store = project_store(project, "landing")
    spool = Spool(project.root / ".tidegate" / "spool")
    try:
        return [p for e in entries(store) for p in _sample_problems(project, store, e, spool)]
    finally:
        spool.close()


def _sample_problems(project: Project, store: Store, entry: Entry, spool: Spool) -> list[str]:
    try:
        file = _probe(store, entry, spool)
        name = route(file, project.sources, lambda f, s: peek_columns(f.path, s.read, s.format))
        source = project.sources[name]
        found = peek_columns(file.path, source.read, source.format)
    except TidegateError as exc:
        return [str(exc)]
    missing = missing_columns(source, found)
    if missing:
        return [
            f"{file.relative}: source {name} maps columns {missing} that the file does not have; it has {found}"
        ]
    return []


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
