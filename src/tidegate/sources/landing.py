"""The one place a pull writes into landing: whole files only, never a half-written one.

The bytes go to a hidden temporary name beside the destination (discovery skips names
starting with '.'), are flushed to disk, and the file is renamed into place: a run sees
either no file or all of it, and a crash leaves at most a temporary file, removed by the
next write of that name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _fsync_folder(folder: Path) -> None:
    # The rename is durable once the folder's entry is; not every system can open a folder.
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_landing(landing: Path, relative: str, data: bytes) -> Path:
    """Write ``data`` to ``landing/relative`` atomically; returns the file's path."""
    destination = landing / relative
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.part")
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, destination)
    _fsync_folder(destination.parent)
    return destination
