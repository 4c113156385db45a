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

Loading the project (PyYAML, pydantic) costs more than the rest of such a run. So the
record also keeps the digest of the files the configuration was loaded from
(``tidegate.config.inputs``) and what the run needs of it: the project's folders and the
warehouse's files. ``unloaded_landing`` tells, without loading the project, that the
files are the same (the same load: the same configuration, valid as it was) and the
warehouse unchanged; the ``tidegate`` script asks it first (``tidegate.shortcut``).
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
from tidegate.config import inputs
from tidegate.results import RunResult
from tidegate.store import LocalStore, is_url, project_store
from tidegate.store.spool import Spool

if TYPE_CHECKING:
    from tidegate.config.models import Project
    from tidegate.pipeline import Progress
    from tidegate.progress import During
    from tidegate.store.base import Store

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
    if landing is None:
        return None
    done = finish(project.root, landing)
    refresh(project)
    return done


def empty_landing(project: Project) -> Store | None:
    """The landing folder, when the run can be done at once; otherwise None. Nothing is
    written yet, so a caller may still choose the whole run (``tidegate.shortcut``)."""
    recorded, now = _read(marker(project.root)), state(project)
    if recorded is None or any(recorded.get(key) != value for key, value in now.items()):
        return None
    return _empty([project_store(project, folder) for folder in FOLDERS])


def unloaded_landing(root: Path) -> Store | None:
    """``empty_landing`` of the project in ``root`` (a resolved path) without loading
    it: the landing folder when the files the last quick-able run loaded are the files
    there now, the warehouse's files are unchanged and landing is empty; else None."""
    recorded = _read(marker(root)) or {}
    kept = recorded.get("unloaded")
    if not isinstance(kept, dict) or recorded.get("version") != __version__:
        return None
    if kept.get("root") != str(root):  # a copied or moved project: its folders are not these
        return None
    warehouse = [_stat(Path(str(p))) for p in kept.get("warehouse", [])]
    if not warehouse or warehouse != recorded.get("warehouse"):
        return None
    if kept.get("inputs") is None or kept["inputs"] != inputs.digest(root):
        return None
    folders = kept.get("folders", {})
    return _empty([LocalStore(Path(str(folders[f])), f) for f in FOLDERS])


def _empty(stores: list[Store]) -> Store | None:
    for store in stores:
        store.check()  # a folder gone is the same error as in a whole run
    landing = stores[0]
    return None if landing.entries() else landing


def finish(root: Path, landing: Store) -> RunResult:
    """The run with nothing to do: logged, the spool and landing's empty folders tidied."""
    started, run_id = utcnow(), uuid.uuid4().hex
    log.event("run started", run_id=run_id, files=0, dry_run=False)
    Spool(root / ".tidegate" / "spool").sweep()
    landing.prune()
    seconds = round((utcnow() - started).total_seconds(), 3)
    log.event("run finished", run_id=run_id, seconds=seconds, warehouse="unchanged")
    return RunResult(run_id, [])


def state(project: Project) -> State:
    """What an empty run's work depends on: tidegate, the configuration, the warehouse."""
    files = warehouse_files(project) or []
    loaded = project.model_dump_json(exclude={"inputs"})  # the configuration, not its text
    digest = hashlib.sha256(loaded.encode()).hexdigest()
    return {"version": __version__, "config": digest, "warehouse": [_stat(p) for p in files]}


def _stat(path: Path) -> list[object] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return [str(path), found.st_size, found.st_mtime_ns, found.st_ino]


def marker(root: Path) -> Path:
    return root / ".tidegate" / "idle.json"


def remember(project: Project) -> None:
    """Keep the state after a run that found nothing (a project that cannot keep it runs
    whole every time), and what a run needs of the project to be told without loading it
    (see the module's docstring)."""
    path = marker(project.root)
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    unloaded = {
        "root": str(project.root),
        "inputs": project.inputs,  # the digest of the files this project was loaded from
        "folders": {folder: str(project.path(folder)) for folder in FOLDERS},
        "warehouse": [str(p) for p in warehouse_files(project) or []],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({**state(project), "unloaded": unloaded}), "utf-8")
        temporary.replace(path)
    except OSError as exc:
        log.event("idle state not kept", reason=exc.strerror)


def refresh(project: Project) -> None:
    """After a run told at once from the loaded project: keep the digest of its files when
    they changed without changing the configuration (a comment), so that the next run is
    told without loading it."""
    recorded = _read(marker(project.root)) or {}
    kept = recorded.get("unloaded")
    if isinstance(kept, dict) and kept.get("inputs") == project.inputs:
        return
    if all(recorded.get(key) == value for key, value in state(project).items()):
        remember(project)  # not when another process wrote to the warehouse meanwhile


def _read(path: Path) -> State | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
