"""Moving files out of landing: loaded files to the archive (compressed), bad ones to rejected.

Every move writes the destination under a temporary name, fsyncs, renames it into place
and only then removes the landing copy, so a crash at any point leaves the file in
landing (and the next run finishes the move) and never a half-written archive.
"""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import datetime
from pathlib import Path

COMPRESSED = (".gz", ".zip", ".bz2", ".xz", ".zst", ".parquet", ".xlsx", ".7z")
CHUNK = 1 << 20
COMPRESS_LEVEL = 1  # archives are written once and rarely read: speed over the last few percent


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


def _write(source: Path, destination: Path, compress: bool) -> None:
    partial = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader:
        if compress:
            with gzip.open(partial, "wb", compresslevel=COMPRESS_LEVEL) as writer:
                shutil.copyfileobj(reader, writer, CHUNK)
        else:
            with partial.open("wb") as writer:
                shutil.copyfileobj(reader, writer, CHUNK)
    _fsync(partial)
    partial.replace(destination)


def move(source: Path, destination: Path) -> None:
    """Move ``source`` to ``destination``, gzipping it when the destination ends in .gz
    and the source does not."""
    compress = destination.suffix == ".gz" and source.suffix != ".gz"
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
