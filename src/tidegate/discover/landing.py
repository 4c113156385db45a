"""The landing store: which files are there, which are ready, and what they contain.

A file is *ready* once it is stable: its size, modification time and (on an object store)
etag did not change over the settle interval, so a file still being copied or uploaded
is left for a later run. Each ready file is identified by the SHA-256 of its content,
computed as it is read, once: an object is streamed into the run's spool while it is
hashed, and every later step reads that local copy.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tidegate.store import Entry, LocalStore, Store
from tidegate.store.spool import Spool

JUNK_PATTERNS = (".*", "._*", "~$*", "*.part", "*.tmp", "*.crdownload", "*.partial", "*.swp")
PARTITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandingFile:
    """A stable file in landing; ``path`` is where it can be read on this machine (the
    file itself in a local folder, the spooled copy of an object)."""

    path: Path
    relative: str  # the key under the landing root, with forward slashes
    size: int
    mtime: float
    sha256: str
    partitions: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    store: Store | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return PurePosixPath(self.relative).name

    @property
    def origin(self) -> Store:
        """The landing store the file is in."""
        if self.store is not None:
            return self.store
        return LocalStore(self.path.parents[len(PurePosixPath(self.relative).parts) - 1])

    def present(self) -> bool:
        """Still in landing (another run or a person may have taken it)."""
        return self.origin.exists(self.relative)


def is_junk(relative: PurePosixPath | Path) -> bool:
    """Hidden, temporary or editor files, in the file name or in any folder above it."""
    return any(
        fnmatch.fnmatchcase(part, pattern) for part in relative.parts for pattern in JUNK_PATTERNS
    )


def partitions_of(relative: PurePosixPath | Path) -> dict[str, str]:
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


def entries(store: Store) -> list[Entry]:
    """Every non-junk file of a store, in a stable order."""
    return [e for e in store.entries() if not is_junk(PurePosixPath(e.key))]


def stable_entries(store: Store, settle_seconds: float) -> list[Entry]:
    """Files whose size, mtime and etag stay unchanged over the settle interval.

    Files modified more than ``settle_seconds`` ago are taken at once; only recent files
    are watched, so a run over a large, quiet landing does not wait.
    """
    before = entries(store)
    now = time.time()
    if not any(now - entry.mtime < settle_seconds for entry in before):
        return before  # nothing recent: nothing to watch
    time.sleep(settle_seconds)
    after = {entry.key: entry.signature for entry in store.entries()}
    return [entry for entry in before if after.get(entry.key) == entry.signature]


def describe(store: Store, entry: Entry, spool: Spool | None = None) -> LandingFile:
    """The file, hashed: in place when it is on this disk, else streamed into the spool."""
    local = store.local_path(entry.key)
    if local is not None:
        path, sha256 = local, sha256_of(local)
    elif spool is not None:
        path, sha256 = spool.fill(store, entry.key)
    else:
        raise ValueError(f"{store.url}: an object store's files are read through a spool")
    relative = PurePosixPath(entry.key)
    return LandingFile(
        path=path,
        relative=entry.key,
        size=entry.size,
        mtime=entry.mtime,
        sha256=sha256,
        partitions=partitions_of(relative),
        etag=entry.etag,
        store=store,
    )


def _described(store: Store, entry: Entry, spool: Spool | None) -> LandingFile | None:
    try:
        return describe(store, entry, spool)
    except FileNotFoundError:  # taken away (by a person or another run) since it was listed
        return None


def scan(store: Store, settle_seconds: float, spool: Spool | None = None) -> list[LandingFile]:
    """The ready files of a landing store, hashed; a file gone while it is hashed is
    left out (it is no longer there to load)."""
    found = (_described(store, e, spool) for e in stable_entries(store, settle_seconds))
    return [file for file in found if file is not None]
