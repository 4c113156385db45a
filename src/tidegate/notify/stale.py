"""``stale``: a source that has gone quiet, or a file that has waited in landing too long.

A source is *quiet* when its newest delivery (any file the ledger routed to it) is older than
its ``expect_every`` (the source's own, else ``sources.expect_every`` in tidegate.yml). A
source that never had a file counts from the project's first run, so a feed that never
started is noticed too. A file is *waiting* when it has sat in landing longer than the
``expect_every`` of the source it would go to: a file that keeps failing, or one a copy
never finished. Without any ``expect_every`` nothing is ever stale.

Read by every run (notifications), by ``watch`` (each of its runs) and by the Dagster
freshness check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlglot import exp

from tidegate.clock import utcnow
from tidegate.config.models import Project, SourceConfig
from tidegate.discover.landing import LandingFile, entries
from tidegate.discover.routing import glob_matches
from tidegate.sql import col, table
from tidegate.store import project_store
from tidegate.warehouse import ledger
from tidegate.warehouse.base import Warehouse


@dataclass(frozen=True)
class Stale:
    """One stale finding; ``path`` is set for a waiting file."""

    source: str | None
    age: timedelta
    limit: timedelta
    path: str | None = None

    @property
    def key(self) -> str:
        """What the finding is about, to tell the same finding from one run to the next."""
        return f"file:{self.path}" if self.path is not None else f"source:{self.source}"

    def describe(self) -> str:
        if self.path is not None:
            return (
                f"{self.path} has waited in landing for {human(self.age)}"
                f" (expected within {human(self.limit)})"
            )
        return (
            f"source {self.source}: no new file for {human(self.age)}"
            f" (expected every {human(self.limit)})"
        )


def human(delta: timedelta) -> str:
    """``timedelta(hours=26, minutes=5)`` -> ``'1d 2h 5m'``; seconds only under a minute."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def expect_every(project: Project, source: SourceConfig | None) -> timedelta | None:
    """The source's own ``expect_every``, else the project default."""
    if source is not None and source.expect_every is not None:
        return source.expect_every
    return project.config.sources.expect_every


def watched(project: Project) -> bool:
    """Whether any source has an ``expect_every`` at all."""
    return any(expect_every(project, s) is not None for s in project.sources.values())


def last_deliveries(wh: Warehouse) -> dict[str, datetime]:
    """Each source's newest delivery in the ledger, whatever became of the file."""
    started = col("started_at")
    query = (
        exp.select(col("source"), exp.Max(this=started).as_("newest"))
        .from_(table(ledger.FILES, wh.schemas.meta))
        .where(col("source").is_(exp.null()).not_())
        .group_by(col("source"))
    )
    return {str(source): _naive(newest) for source, newest in wh.execute(query)}


def first_run(wh: Warehouse) -> datetime | None:
    query = exp.select(exp.Min(this=col("started_at"))).from_(table(ledger.RUNS, wh.schemas.meta))
    value = wh.scalar(query)
    return _naive(value) if value is not None else None


def quiet_sources(project: Project, wh: Warehouse, now: datetime | None = None) -> list[Stale]:
    """Sources whose newest file is older than their ``expect_every``."""
    now = now or utcnow()
    newest = last_deliveries(wh)
    since_first = first_run(wh)
    found = []
    for name, source in sorted(project.sources.items()):
        limit = expect_every(project, source)
        last = newest.get(name, since_first)
        if limit is not None and last is not None and now - last > limit:
            found.append(Stale(name, now - last, limit))
    return found


def waiting_files(project: Project, now: datetime | None = None) -> list[Stale]:
    """Files in landing older than the ``expect_every`` of the source their name matches."""
    now = now or utcnow()
    found = []
    for entry in entries(project_store(project, "landing")):  # a folder or a bucket
        relative, mtime = entry.key, entry.mtime
        source = _by_name(project, LandingFile(Path(relative), relative, 0, mtime, ""))
        limit = expect_every(project, project.sources.get(source or ""))
        age = now - datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None)
        if limit is not None and age > limit:
            found.append(Stale(source, age, limit, path=f"{project.config.landing}/{relative}"))
    return found


def check(project: Project, wh: Warehouse, now: datetime | None = None) -> list[Stale]:
    """Every stale finding of the project now: quiet sources, then waiting files."""
    if not watched(project):
        return []
    ledger.ensure(wh)
    return quiet_sources(project, wh, now) + waiting_files(project, now)


def _by_name(project: Project, file: LandingFile) -> str | None:
    """The one source whose globs take the file (column rules need a read: not here)."""
    found = [
        name
        for name, source in project.sources.items()
        if any(glob_matches(pattern, file) for pattern in source.globs)
    ]
    return found[0] if len(found) == 1 else None


def _naive(value: object) -> datetime:
    """Ledger timestamps as naive UTC, whatever the driver hands back."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), value
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
