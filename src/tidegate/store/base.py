"""The Store protocol: where landing, archive and rejected files live.

A store is a folder of files named by *keys*: paths relative to its root, with forward
slashes (``people/2026/01/people.csv``). The local store is a folder on this machine; the
fsspec store serves every URL fsspec knows (``s3://``, ``gs://``, ``az://``, ...). Nothing
outside ``store/`` uses pathlib on landing, archive or rejected: it asks a store.

    >>> from tidegate.store.local import LocalStore
    >>> import tempfile, pathlib
    >>> store = LocalStore(pathlib.Path(tempfile.mkdtemp()))
    >>> store.write("a/b.txt", b"hi")
    >>> [(e.key, e.size) for e in store.entries()]
    [('a/b.txt', 2)]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol, runtime_checkable

CHUNK = 1 << 20  # bytes per read when a stream is copied or hashed


@dataclass(frozen=True)
class Entry:
    """One file of a store, as a listing reports it."""

    key: str
    size: int
    mtime: float  # seconds since the epoch, as the store reports it
    etag: str | None = None  # object stores: changes whenever the content is replaced

    @property
    def signature(self) -> tuple[int, float, str | None]:
        """What must stay the same over the settle interval for the file to be taken."""
        return self.size, self.mtime, self.etag


Data = bytes | BinaryIO


@runtime_checkable
class Store(Protocol):
    """Listing, streaming reads, atomic writes, moves and deletes under one root."""

    RENAMES: ClassVar[bool]  # a move within the store is a rename (else copy, then delete)

    @property
    def url(self) -> str:
        """The root as a user wrote it (a folder or a URL), never with credentials."""
        ...

    def entries(self) -> list[Entry]:
        """Every file under the root, in a stable order."""
        ...

    def stat(self, key: str) -> Entry | None:
        """The file's entry, or None when it is not there."""
        ...

    def exists(self, key: str) -> bool: ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """The file for a streaming read (never read whole into memory)."""
        ...

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A handle whose bytes appear at ``key`` only when the block ends without an error:
        a reader never sees half a file."""
        ...

    def write(self, key: str, data: Data) -> None:
        """Put bytes, or a stream copied in chunks, at ``key`` (complete or not at all)."""
        ...

    def move(self, key: str, to: Store, to_key: str) -> None:
        """Move a file to ``to_key`` of ``to``: a rename where the store has one, else a
        copy followed by a delete."""
        ...

    def moves_to(self, other: Store) -> bool:
        """A move to ``other`` sends no byte through this machine (a rename, or a copy
        inside the object store)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the file; one that is already gone is not an error."""
        ...

    def location(self, key: str) -> str:
        """The file's path or URL, as the ledger records it and a user finds it."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file itself, where it is on this machine's disk; None for an object store."""
        ...

    def prune(self) -> None:
        """Remove folders that moves emptied (never the root); object stores have none."""
        ...

    def check(self) -> None:
        """Raise ``StoreUnavailable`` when the root cannot be reached (no bucket, refused
        credentials, unreachable endpoint)."""
        ...


def copy_stream(reader: BinaryIO, writer: BinaryIO) -> None:
    """Copy in chunks, so a file of any size needs one chunk of memory."""
    while chunk := reader.read(CHUNK):
        writer.write(chunk)


def chunks(data: Data) -> Iterator[bytes]:
    if isinstance(data, bytes):
        yield data
        return
    while chunk := data.read(CHUNK):
        yield chunk


def join(*parts: str) -> str:
    """Keys joined with '/', without empty parts."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def parent_and_name(key: str) -> tuple[str, str]:
    parent, _, name = key.rstrip("/").rpartition("/")
    return parent, name
