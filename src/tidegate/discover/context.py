"""One file's facts, built once and used by every step that needs them.

A run builds a ``FileContext`` when it starts on a file (name, path, size, mtime,
partitions, name-pattern groups), completes it from the read (format, encoding, dialect,
renamed columns) and from the commit (the load time that ``run_time`` effective times
use), and stores it as JSON with the file's ledger row. Replay and erasure read it back, so
``_file.*`` values and effective times are the ones the run used, never rebuilt another way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlglot import exp

from tidegate import effective
from tidegate.config.models import SourceConfig, TargetConfig
from tidegate.discover.landing import LandingFile, partitions_of
from tidegate.transform import mapping
from tidegate.warehouse.ledger import FileRecord


def name_groups(pattern: str | None, name: str) -> dict[str, str | None]:
    """Every named group of ``name_pattern``: its value, or None when it did not match.

    Each group is always there, so a mapping that reads ``_file.<group>`` binds for every
    file and gets NULL, not an engine error, from a name the pattern does not fit.
    """
    if not pattern:
        return {}
    compiled = re.compile(pattern)
    match = compiled.search(name)
    found = match.groupdict() if match else {}
    return {group: found.get(group) for group in compiled.groupindex}


@dataclass(frozen=True)
class FileContext:
    """What tidegate knows about one delivered file, independent of where it is now."""

    name: str
    path: str  # relative to landing, forward slashes
    size: int
    mtime: float  # seconds since the epoch, as the store reported it
    sha256: str
    partitions: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str | None] = field(default_factory=dict)
    format: str | None = None
    encoding: str | None = None
    dialect: dict[str, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)  # file column -> name it got
    loaded_at: datetime | None = None  # naive UTC; set when the file's rows are committed

    @classmethod
    def of(cls, file: LandingFile, source: SourceConfig | None) -> FileContext:
        pattern = source.name_pattern if source is not None else None
        return cls(
            name=file.name,
            path=file.relative,
            size=file.size,
            mtime=file.mtime,
            sha256=file.sha256,
            partitions=dict(file.partitions),
            groups=name_groups(pattern, file.name),
        )

    @classmethod
    def rebuilt(
        cls,
        *,
        name: str,
        path: str,
        size: int,
        sha256: str,
        modified: datetime,
        source: SourceConfig | None,
        loaded_at: datetime | None,
    ) -> FileContext:
        """The context of a file recorded before contexts were stored (older ledgers)."""
        return cls(
            name=name,
            path=path,
            size=size,
            mtime=modified.replace(tzinfo=UTC).timestamp(),
            sha256=sha256,
            partitions=partitions_of(Path(path)),
            groups=name_groups(source.name_pattern if source else None, name),
            loaded_at=loaded_at,
        )

    @property
    def modified(self) -> datetime:
        """The file's mtime as a naive UTC timestamp, as ``_file.modified`` shows it."""
        return datetime.fromtimestamp(self.mtime, UTC).replace(tzinfo=None)

    def values(self) -> exp.Select:
        """``SELECT {...} AS _file``: partitions, name groups, then name, path and modified."""
        extra = {**self.partitions, **self.groups}
        return mapping.file_values(self.name, self.path, self.modified, extra)

    def effective_at(self, target: TargetConfig, run_time: datetime) -> datetime:
        """When this file's rows took effect in ``target`` (rows without their own time)."""
        return effective.file_time(target.history, self.path, self.mtime, run_time)

    def with_read(
        self,
        fmt: str | None,
        encoding: str | None,
        dialect: dict[str, str],
        renamed: dict[str, str],
    ) -> FileContext:
        return replace(
            self, format=fmt, encoding=encoding, dialect=dict(dialect), renamed=dict(renamed)
        )

    def loaded(self, when: datetime) -> FileContext:
        return replace(self, loaded_at=when)

    def to_json(self) -> str:
        data: dict[str, Any] = dict(vars(self))  # plain values and flat dicts: no deep copy
        data["loaded_at"] = self.loaded_at.isoformat() if self.loaded_at else None
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FileContext:
        data = json.loads(text)
        known = {name for name in cls.__dataclass_fields__}
        data = {k: v for k, v in data.items() if k in known}  # a newer writer's extra facts
        if data.get("loaded_at"):
            data["loaded_at"] = datetime.fromisoformat(data["loaded_at"])
        return cls(**data)


def recorded(record: FileRecord, source: SourceConfig | None) -> FileContext:
    """The context a file's ledger row holds, or one rebuilt from the row's columns."""
    if record.context:
        return FileContext.from_json(record.context)
    return FileContext.rebuilt(
        name=record.name,
        path=record.path,
        size=record.size,
        sha256=record.sha256,
        modified=record.modified_at or record.started_at,
        source=source,
        loaded_at=record.started_at,
    )
