"""A run with nothing to do, told without opening the warehouse or importing an engine.

A run that finds no file still works: it creates the tables of a new target and checks a
changed contract, marks the runs whose process died as interrupted, builds the SQL
models, finishes the erasure rewrites an ``erase --no-rewrite`` left, and tells the
``notify:`` channels of stale sources. What it does depends on three things only: the
project's configuration, the warehouse's content and the clock. So after a run that
found nothing, ``.tidegate/idle.json`` keeps a digest of the configuration and the size
and modification time of the warehouse's files; the next run is done at once when
landing is empty and both are unchanged. Whatever wrote to the warehouse since (a run,
one that died, an erase, a replay, another machine) changed its files, and the run is a
whole one again.

That is known only where the warehouse is a file here (DuckDB) and nothing depends on
the clock or the network: a project with ``notify:`` channels (stale alerts fall due),
``api:`` sources (they pull first) or folders in an object store always runs whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate import __version__, log
from tidegate.clock import utcnow
from tidegate.results import RunResult
from tidegate.store import is_url, project_store
from tidegate.store.spool import Spool

if TYPE_CHECKING:
    from tidegate.config.models import Project
    from tidegate.pipeline import Progress
    from tidegate.progress import During
    from tidegate.store import Store

FOLDERS = ("landing", "archive", "rejected")
State = dict[str, object]


def run(
    project: Project,
    progress: Progress | None = None,
    dry_run: bool = False,
    during: During | None = None,
    *,
    sources: Collection[str] | None = None,
) -> RunResult:
    """``tidegate.pipeline.run``, done at once when the last run found nothing and
    nothing changed since (see the module's docstring)."""
    whole = dry_run or sources is not None or not eligible(project)
    done = None if whole else nothing_to_do(project)
    if done is not None:
        return done
    from tidegate.pipeline import run as run_pipeline

    result = run_pipeline(project, progress, dry_run, during, sources=sources)
    if not whole and not (result.files or result.pulls or result.notifications):
        remember(project)
    return result


def eligible(project: Project) -> bool:
    """Whether what an empty run does can be known from files here."""
    config = project.config
    return (
        warehouse_files(project) is not None
        and not config.notify
        and not any(source.api is not None for source in project.sources.values())
        and not any(is_url(str(getattr(config, folder))) for folder in FOLDERS)
    )


def warehouse_files(project: Project) -> list[Path] | None:
    """The files that hold the warehouse's content, or None for a warehouse elsewhere."""
    config = project.config.warehouse
    if config.type != "duckdb" or config.path in (None, ":memory:"):
        return None
    path = Path(config.path)
    path = path if path.is_absolute() else project.root / path
    return [path, path.with_name(path.name + ".wal")]


def nothing_to_do(project: Project) -> RunResult | None:
    """The empty run's result, when the last run found nothing, nothing changed since and
    landing is empty; otherwise None (the run must be a whole one)."""
    landing = empty_landing(project)
    return None if landing is None else finish(project, landing)


def empty_landing(project: Project) -> Store | None:
    """The landing folder, when the run can be done at once; otherwise None. Nothing is
    written yet, so a caller may still choose the whole run (``tidegate.shortcut``)."""
    if _recorded(project) != state(project):
        return None
    stores = [project_store(project, folder) for folder in FOLDERS]
    for store in stores:
        store.check()  # a folder gone is the same error as in a whole run
    landing = stores[0]
    return None if landing.entries() else landing


def finish(project: Project, landing: Store) -> RunResult:
    """The run with nothing to do: logged, the spool and landing's empty folders tidied."""
    started, run_id = utcnow(), uuid.uuid4().hex
    log.event("run started", run_id=run_id, files=0, dry_run=False)
    Spool(project.root / ".tidegate" / "spool").sweep()
    landing.prune()
    seconds = round((utcnow() - started).total_seconds(), 3)
    log.event("run finished", run_id=run_id, seconds=seconds, warehouse="unchanged")
    return RunResult(run_id, [])


def state(project: Project) -> State:
    """What an empty run's work depends on: tidegate, the configuration, the warehouse."""
    files = warehouse_files(project) or []
    digest = hashlib.sha256(project.model_dump_json().encode()).hexdigest()
    return {"version": __version__, "config": digest, "warehouse": [_stat(p) for p in files]}


def _stat(path: Path) -> list[object] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return [str(path), found.st_size, found.st_mtime_ns, found.st_ino]


def marker(project: Project) -> Path:
    return project.root / ".tidegate" / "idle.json"


def remember(project: Project) -> None:
    """Keep the state after a run that found nothing (a project that cannot keep it runs
    whole every time)."""
    path = marker(project)
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(state(project)), encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        log.event("idle state not kept", reason=exc.strerror)


def _recorded(project: Project) -> State | None:
    try:
        found = json.loads(marker(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
