"""A folder on this machine: the store tidegate has always had.

Writes go to a temporary name beside the destination, are fsynced and renamed into
place, so a crash leaves the old state or the new one and never half a file. A move is
``os.replace`` when source and destination are on one device; across devices it is a
synced copy, then the delete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, ClassVar

from tidegate.errors import StoreUnavailable
from tidegate.store.base import Data, Entry, Store, chunks, copy_stream

PART = ".part"  # suffix of a file being written; junk to discovery, so never loaded
PRUNE_THREADS = 16


def _remove_if_empty(folder: str) -> None:
    with contextlib.suppress(OSError):  # not empty (or gone)
        os.rmdir(folder)


def fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def same_device(source: Path, destination: Path) -> bool:
    folder = destination.parent
    while not folder.exists():
        folder = folder.parent
    return source.stat().st_dev == folder.stat().st_dev


class LocalStore:
    """Files under a local folder; keys are paths relative to it."""

    RENAMES: ClassVar[bool] = True

    def __init__(self, root: Path, setting: str | None = None) -> None:
        self.root = root
        self.setting = setting  # landing, archive or rejected: named by errors

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    @property
    def url(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def entries(self) -> list[Entry]:
        """Every file under the folder, in the order of their paths' parts (as sorted
        ``Path`` objects order), each with one ``stat`` of the folder listing's own."""
        if not self.root.is_dir():
            return []
        found: list[tuple[tuple[str, ...], Entry]] = []
        self._walk(str(self.root), (), found)
        found.sort(key=lambda pair: pair[0])
        return [entry for _, entry in found]

    def _walk(
        self, folder: str, parts: tuple[str, ...], found: list[tuple[tuple[str, ...], Entry]]
    ) -> None:
        try:
            with os.scandir(folder) as scanned:
                listing = list(scanned)
        except (FileNotFoundError, NotADirectoryError, PermissionError):  # as rglob skips
            return
        for item in listing:
            here = (*parts, item.name)
            try:
                if item.is_dir(follow_symlinks=False):  # a linked folder is not walked
                    self._walk(item.path, here, found)
                elif item.is_file():  # a linked file is
                    stat = item.stat()
                    found.append((here, Entry("/".join(here), stat.st_size, stat.st_mtime)))
            except FileNotFoundError:
                continue

    def _entry(self, path: Path) -> Entry | None:
        try:
            stat = path.stat()
        except FileNotFoundError:  # taken away since the folder was listed
            return None
        if not path.is_file():
            return None
        return Entry(path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime)

    def stat(self, key: str) -> Entry | None:
        return self._entry(self.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def open(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.path(key).open("rb")

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        destination = self.path(key)
        partial = destination.with_name(destination.name + PART)
        partial.parent.mkdir(parents=True, exist_ok=True)
        try:
            with partial.open("wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(destination)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def write(self, key: str, data: Data) -> None:
        with self.writer(key) as handle:
            for chunk in chunks(data):
                handle.write(chunk)

    def move(self, key: str, to: Store, to_key: str) -> None:
        source = self.path(key)
        target = to.local_path(to_key)
        if target is not None and same_device(source, target):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            return
        with source.open("rb") as reader, to.writer(to_key) as writer:
            copy_stream(reader, writer)
        source.unlink(missing_ok=True)

    def moves_to(self, other: Store) -> bool:
        return isinstance(other, LocalStore)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def location(self, key: str) -> str:
        return str(self.path(key))

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def prune(self) -> None:
        """Remove the empty folders, deepest first. Removing a folder waits on the disk
        (2 ms each on a busy machine, where renaming a file takes 0.03 ms), so the folders
        of one depth are removed by several threads at once."""
        if not self.root.is_dir():
            return
        by_depth: dict[int, list[str]] = {}
        for folder, _, files in os.walk(self.root, topdown=False):
            if not files and folder != str(self.root):
                by_depth.setdefault(folder.count(os.sep), []).append(folder)
        if not by_depth:
            return
        with ThreadPoolExecutor(PRUNE_THREADS) as pool:
            for depth in sorted(by_depth, reverse=True):
                list(pool.map(_remove_if_empty, by_depth[depth]))

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreUnavailable(self.setting or "store", self.url, "it is not a folder")
