"""What a run returns: per file and for the whole run (``run --json`` prints these).

Apart from the pipeline, so that a run with nothing to do (``tidegate.idle``), the
command line and the notifications can speak of results without importing the engines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidegate.preview import Preview
    from tidegate.sources.api import PullResult


@dataclass
class FileResult:
    """What happened to one file, as ``run --json`` reports it."""

    name: str
    path: str
    source: str | None
    status: str
    file_id: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    error: str | None = None
    new_columns: list[str] = field(default_factory=list)
    preview: Preview | None = None  # a dry run's per-target changes and reasons


@dataclass
class RunResult:
    run_id: str
    files: list[FileResult]
    notifications: list[dict[str, object]] = field(default_factory=list)  # see notify.py
    pulls: list[PullResult] = field(default_factory=list)  # the api: sources pulled first

    @property
    def ok(self) -> bool:
        pulled = all(p.ok for p in self.pulls)
        return pulled and all(f.status in ("loaded", "duplicate", "skipped") for f in self.files)

    def as_json(self, dry_run: bool) -> dict[str, object]:
        """What ``tidegate run --json`` prints (typer's command and the quick empty run)."""
        return {
            "run_id": self.run_id,
            "dry_run": dry_run,
            "pulls": [asdict(p) for p in self.pulls],
            "files": [asdict(f) for f in self.files],
            "notifications": self.notifications,
        }
