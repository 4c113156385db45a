"""Moving files out of landing: loaded files to the archive (compressed), bad ones to rejected.

Every move writes the destination under a temporary name, fsyncs, renames it into place
and only then removes the landing copy, so a crash at any point leaves the file in
landing (and the next run finishes the move) and never a half-written archive.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import threading
from datetime import datetime
from pathlib import Path

COMPRESSED = (".gz", ".zip", ".bz2", ".xz", ".zst", ".parquet", ".xlsx", ".7z")
CHUNK = 1 << 20
COMPRESS_LEVEL = 1  # archives are written once and rarely read: speed over the last few percent
EARLY_BYTES = 32 << 20  # files from this size are compressed while they load
PARTIAL = ".partial"  # archive/.partial/: compressed copies of files still loading


def archive_path(archive: Path, source: str, relative: str, sha256: str, when: datetime) -> Path:
    """``archive/<source>/<YYYY>/<MM>/<DD>/<name>[.gz]``; a taken name gets the hash in it."""
    name = Path(relative).name
    if not name.lower().endswith(COMPRESSED):
        name += ".gz"
    folder = archive / source / f"{when:%Y}" / f"{when:%m}" / f"{when:%d}"
    candidate = folder / name
    if candidate.exists():
        stem, dot, rest = name.partition(".")
        candidate = folder / f"{stem}.{sha256[:12]}{dot}{rest}"
    return candidate


def rejected_path(rejected: Path, relative: str, sha256: str) -> Path:
    candidate = rejected / relative
    if candidate.exists():
        stem, dot, rest = candidate.name.partition(".")
        candidate = candidate.with_name(f"{stem}.{sha256[:12]}{dot}{rest}")
    return candidate


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _copy(source: Path, partial: Path, compress: bool) -> None:
    partial.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader:
        if compress:
            with gzip.open(partial, "wb", compresslevel=COMPRESS_LEVEL) as writer:
                shutil.copyfileobj(reader, writer, CHUNK)
        else:
            with partial.open("wb") as writer:
                shutil.copyfileobj(reader, writer, CHUNK)
    _fsync(partial)


def _write(source: Path, destination: Path, compress: bool) -> None:
    partial = destination.with_name(destination.name + ".part")
    _copy(source, partial, compress)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial.replace(destination)


def _compresses(source: Path, destination: Path) -> bool:
    return destination.suffix == ".gz" and source.suffix != ".gz"


class Early:
    """A large landing file gzipped into ``archive/.partial/`` on a thread while it loads
    (its content is fixed once hashed), so the move after the commit is a rename."""

    def __init__(self, source: Path, archive: Path, sha256: str) -> None:
        self.source = source
        self.partial = archive / PARTIAL / f"{sha256}.gz"
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tidegate-archive", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, source: Path, archive: Path, sha256: str, size: int) -> Early | None:
        """Compression under way for a large file that the archive gzips; else None."""
        if size < EARLY_BYTES or source.name.lower().endswith(COMPRESSED):
            return None
        return cls(source, archive, sha256)

    def _run(self) -> None:
        try:
            _copy(self.source, self.partial, compress=True)
        except BaseException as exc:  # reported by finish(); cancel() just cleans up
            self._error = exc

    def finish(self, destination: Path) -> bool:
        """Put the compressed copy at ``destination`` and remove the landing file; False
        (and nothing moved) when this copy does not fit or failed (the caller moves)."""
        self._thread.join()
        if self._error is not None or not _compresses(self.source, destination):
            self.cancel()
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        self.partial.replace(destination)
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


def move(source: Path, destination: Path, early: Early | None = None) -> None:
    """Move ``source`` to ``destination``, gzipping it when the destination ends in .gz
    and the source does not (or taking the copy ``early`` made)."""
    if early is not None and early.finish(destination):
        return
    compress = _compresses(source, destination)
    if not compress and _same_device(source, destination):
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, destination)
        return
    _write(source, destination, compress)
    source.unlink(missing_ok=True)


def _same_device(source: Path, destination: Path) -> bool:
    folder = destination.parent
    while not folder.exists():
        folder = folder.parent
    return source.stat().st_dev == folder.stat().st_dev


def write_reason(destination: Path, reason: str) -> None:
    """A note beside a rejected file, so whoever finds it knows why without the ledger."""
    note = destination.with_name(destination.name + ".reason.txt")
    note.write_text(reason + "\n", encoding="utf-8")


def remove_empty_folders(root: Path) -> None:
    """Prune folders emptied by moves (partition folders), never the root itself."""
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            continue
