"""Moving files out of landing: loaded files to the archive (compressed), bad ones to rejected.

Landing, archive and rejected are stores (store/): local folders or object-store URLs.
Every move writes the destination whole before the landing copy is removed: on a local
folder a temporary name, fsynced, renamed into place (or one rename on the same device);
on an object store an object that appears only when its upload completes (or a copy
inside the store), then the delete. A crash at any point leaves the file in landing. The
ledger row, committed before the move, records where the file goes and what it was
(path, size, mtime): the next run finishes a move that did not start or did not end
(``pipeline``: an archive that is missing is written; a landing copy whose archive is
whole is deleted), and never half-writes an archive.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import threading
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tidegate.discover.landing import LandingFile
from tidegate.faults import checkpoint
from tidegate.store import Store
from tidegate.store.base import join, parent_and_name

COMPRESSED = (".gz", ".zip", ".bz2", ".xz", ".zst", ".parquet", ".xlsx", ".7z")
CHUNK = 1 << 20
COMPRESS_LEVEL = 1  # archives are written once and rarely read: speed over the last few percent
EARLY_BYTES = 32 << 20  # files from this size are compressed while they load
PARTIAL = ".partial"  # archive/.partial/: compressed copies of files still loading
REASON = ".reason.txt"


def _with_hash(key: str, sha256: str) -> str:
    folder, name = parent_and_name(key)
    stem, dot, rest = name.partition(".")
    return join(folder, f"{stem}.{sha256[:12]}{dot}{rest}")


def archive_key(archive: Store, source: str, relative: str, sha256: str, when: datetime) -> str:
    """``<source>/<YYYY>/<MM>/<DD>/<name>[.gz]`` in the archive; a taken name gets the hash."""
    name = PurePosixPath(relative).name
    if not name.lower().endswith(COMPRESSED):
        name += ".gz"
    candidate = join(source, f"{when:%Y}", f"{when:%m}", f"{when:%d}", name)
    return _with_hash(candidate, sha256) if archive.exists(candidate) else candidate


def rejected_key(rejected: Store, relative: str, sha256: str) -> str:
    """The file's own path under rejected/; a taken name gets the hash."""
    return _with_hash(relative, sha256) if rejected.exists(relative) else relative


def _compresses(relative: str, destination: str) -> bool:
    return destination.endswith(".gz") and not relative.endswith(".gz")


def _gzip(reader: BinaryIO, writer: BinaryIO) -> None:
    with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=COMPRESS_LEVEL) as packed:
        shutil.copyfileobj(reader, packed, CHUNK)


class Early:
    """A large local landing file gzipped into the local ``archive/.partial/`` on a thread
    while it loads (its content is fixed once hashed), so the move after the commit is a
    rename."""

    def __init__(self, source: Path, partial: Path) -> None:
        self.source = source
        self.partial = partial
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tidegate-archive", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, file: LandingFile, archive: Store) -> Early | None:
        """Compression under way for a large local file that a local archive gzips."""
        source = file.origin.local_path(file.relative)
        folder = archive.local_path(PARTIAL)
        if source is None or folder is None or file.size < EARLY_BYTES:
            return None
        if file.name.lower().endswith(COMPRESSED):
            return None
        return cls(source, folder / f"{file.sha256}.gz")

    def _run(self) -> None:
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            with self.source.open("rb") as reader, self.partial.open("wb") as writer:
                _gzip(reader, writer)
        except BaseException as exc:  # reported by finish(); cancel() just cleans up
            self._error = exc

    def finish(self, to: Store, key: str) -> bool:
        """Put the compressed copy at ``key`` and remove the landing file; False (and
        nothing moved) when this copy does not fit or failed (the caller moves)."""
        self._thread.join()
        destination = to.local_path(key)
        if self._error is not None or destination is None or not key.endswith(".gz"):
            self.cancel()
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        self.partial.replace(destination)
        checkpoint("copied")
        self.source.unlink(missing_ok=True)
        self._tidy()
        return True

    def cancel(self) -> None:
        self._thread.join()
        self.partial.unlink(missing_ok=True)
        self._tidy()

    def _tidy(self) -> None:
        with contextlib.suppress(OSError):  # not empty: another file's copy is there
            self.partial.parent.rmdir()


def move(file: LandingFile, to: Store, key: str, early: Early | None = None) -> None:
    """Move a landing file to ``key`` of ``to``, gzipping it when the key ends in .gz and
    the file does not (or taking the copy ``early`` made)."""
    if early is not None and early.finish(to, key):
        return
    landing = file.origin
    if not _compresses(file.relative, key) and landing.moves_to(to):
        landing.move(file.relative, to, key)  # a rename, or a copy inside the object store
        return
    # Bytes pass through here: read them from the local file or the object's spooled copy,
    # so an object is never downloaded a second time.
    with file.path.open("rb") as reader, to.writer(key) as writer:
        if _compresses(file.relative, key):
            _gzip(reader, writer)
        else:
            shutil.copyfileobj(reader, writer, CHUNK)
    checkpoint("copied")
    landing.delete(file.relative)


def write_reason(rejected: Store, key: str, reason: str) -> None:
    """A note beside a rejected file, so whoever finds it knows why without the ledger."""
    rejected.write(key + REASON, (reason + "\n").encode("utf-8"))
