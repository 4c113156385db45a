"""The landing folder: which files are there, which are ready, and what they contain.

A file is *ready* once it is stable: its size and modification time did not change over
the settle interval, so a file still being copied in is left for a later run. Each ready
file is identified by the SHA-256 of its content.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

JUNK_PATTERNS = (".*", "._*", "~$*", "*.part", "*.tmp", "*.crdownload", "*.partial", "*.swp")
PARTITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandingFile:
    """A stable file in the landing folder."""

    path: Path
    relative: str  # path relative to the landing root, with forward slashes
    size: int
    mtime: float
    sha256: str
    partitions: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def is_junk(relative: Path) -> bool:
    """Hidden, temporary or editor files, in the file name or in any folder above it."""
    return any(
        fnmatch.fnmatchcase(part, pattern) for part in relative.parts for pattern in JUNK_PATTERNS
    )


def partitions_of(relative: Path) -> dict[str, str]:
    """Hive-style folder values: ``date=2020-01-01/hour=00/x.json`` -> {date, hour}."""
    found: dict[str, str] = {}
    for part in relative.parts[:-1]:
        match = PARTITION.match(part)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def candidates(landing: Path) -> Iterator[Path]:
    """Every non-junk regular file under landing, in a stable order."""
    if not landing.is_dir():
        return
    for path in sorted(landing.rglob("*")):
        if path.is_file() and not is_junk(path.relative_to(landing)):
            yield path


def _signature(path: Path) -> tuple[int, float] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime


def stable_files(landing: Path, settle_seconds: float) -> list[Path]:
    """Files whose size and mtime stay unchanged over the settle interval.

    Files modified more than ``settle_seconds`` ago are taken at once; only recent files
    are watched, so a run over a large, quiet landing folder does not wait.
    """
    paths = list(candidates(landing))
    now = time.time()
    before = {path: _signature(path) for path in paths}
    recent = [p for p, sig in before.items() if sig and now - sig[1] < settle_seconds]
    if recent:
        time.sleep(settle_seconds)
    return [p for p in paths if before[p] is not None and _signature(p) == before[p]]


def describe(path: Path, landing: Path) -> LandingFile:
    relative = path.relative_to(landing)
    stat = path.stat()
    return LandingFile(
        path=path,
        relative=relative.as_posix(),
        size=stat.st_size,
        mtime=stat.st_mtime,
        sha256=sha256_of(path),
        partitions=partitions_of(relative),
    )


def _described(path: Path, landing: Path) -> LandingFile | None:
    try:
        return describe(path, landing)
    except FileNotFoundError:  # taken away (by a person or another run) since it was listed
        return None


def scan(landing: Path, settle_seconds: float) -> list[LandingFile]:
    """The ready files of a landing folder, hashed; a file gone while it is hashed is
    left out (it is no longer there to load)."""
    found = (_described(path, landing) for path in stable_files(landing, settle_seconds))
    return [file for file in found if file is not None]
