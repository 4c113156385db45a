"""Local copies of objects, made while they are hashed, so an object is downloaded once.

Discovery streams each ready object into the run's spool folder (under the project's
``.tidegate/spool/``, on disk, never in memory) while it computes the SHA-256; the readers
then read the copy like any local file, and the archive gzips from it. A file's copy is
removed when the file is done, the folder when the run ends, and the folders of runs that
died (their process is gone) by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

from tidegate.store.base import CHUNK, Store


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class Spool:
    """One run's folder of object copies."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.folder = base / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._count = 0

    def fill(self, store: Store, key: str) -> tuple[Path, str]:
        """Copy the object to a local file, hashing it on the way: (copy, sha256)."""
        self._count += 1
        path = self.folder / str(self._count) / PurePosixPath(key).name
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        try:
            with store.open(key) as reader, path.open("wb") as writer:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
        except BaseException:
            self.release(path)
            raise
        return path, digest.hexdigest()

    def holds(self, path: Path) -> bool:
        return path.is_relative_to(self.folder)

    def release(self, path: Path) -> None:
        """Remove one copy (the file is done), if it is one of ours."""
        if self.holds(path):
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.base.rmdir()

    def sweep(self) -> None:
        """Remove the copies of runs whose process is gone (killed before they ended)."""
        if not self.base.is_dir():
            return
        for folder in self.base.iterdir():
            pid = folder.name.partition("-")[0]
            if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
