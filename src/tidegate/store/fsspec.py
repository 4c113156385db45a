"""Every other URL, through fsspec: ``s3://`` (tested here against a real S3 API),
``gs://``, ``az://``/``abfs://`` and the rest of fsspec's filesystems (not tested here).

An object store has no rename: a move within one filesystem is fsspec's ``mv`` (for S3 a
server-side copy, then the delete: no byte passes through this machine), and between
filesystems a streamed copy, then the delete. A write appears whole or not at all: the
object is created when its handle closes, and a failed write is discarded.

Listings are never served from fsspec's cache: each one asks the store, or the settle
interval would compare a listing with itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import fsspec
from fsspec.spec import AbstractFileSystem

from tidegate.config.redact import hide_passwords
from tidegate.errors import StoreError, StoreUnavailable, TransientStoreError
from tidegate.store.base import Data, Entry, Store, chunks, copy_stream, join

READ_BLOCK = 8 << 20  # read-ahead of a streaming read: memory per open object, not per file
WRITE_BLOCK = 16 << 20  # one part of a multipart upload held in memory (S3's minimum is 5 MB)
SECRET_WORDS = ("secret", "token", "password", "key", "credential", "sas", "connection")


class FsspecStore:
    """Objects under ``protocol://bucket/prefix``; keys are paths below the prefix."""

    RENAMES: ClassVar[bool] = False

    def __init__(
        self,
        url: str,
        options: Mapping[str, Any] | None = None,
        setting: str = "store",
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.setting = setting
        self.secrets = tuple(s for s in secrets if s)
        self._url = url
        protocol = url.split("://", 1)[0].lower()
        try:
            self.fs: AbstractFileSystem = fsspec.filesystem(protocol, **dict(options or {}))
        except (ImportError, ValueError, TypeError) as exc:
            raise StoreUnavailable(setting, self.url, self._reason(exc)) from None
        self.root = str(self.fs._strip_protocol(url)).rstrip("/")

    def __repr__(self) -> str:
        return f"FsspecStore({self.url!r})"

    @property
    def url(self) -> str:
        return hide_passwords(self._url)

    def _path(self, key: str) -> str:
        return join(self.root, key) if key else self.root

    def _key(self, path: str) -> str:
        return path.strip("/")[len(self.root.strip("/")) :].strip("/")

    # -- reading --------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        self.fs.invalidate_cache()
        with self._translated():
            try:
                found = self.fs.find(self.root, detail=True)
            except FileNotFoundError:  # an empty prefix is an empty landing
                return []
        assert isinstance(found, dict)
        listed = (self._entry(path, info) for path, info in sorted(found.items()))
        return [entry for entry in listed if entry is not None]

    def _entry(self, path: str, info: Mapping[str, Any]) -> Entry | None:
        if info.get("type", "file") != "file":
            return None
        key = self._key(str(info.get("name", path)))
        return Entry(key, int(info.get("size") or 0), _mtime(info), _etag(info))

    def stat(self, key: str) -> Entry | None:
        self.fs.invalidate_cache(self._path(key))
        with self._translated():
            try:
                info = self.fs.info(self._path(key))
            except FileNotFoundError:
                return None
        return self._entry(self._path(key), info)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with self._translated(), self.fs.open(self._path(key), "rb", block_size=READ_BLOCK) as f:
            yield f

    # -- writing --------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with self._translated():
            handle = self.fs.open(self._path(key), "wb", block_size=WRITE_BLOCK)
            try:
                yield handle
            except BaseException:
                _discard(handle)
                raise
            handle.close()  # the object appears now, whole

    def write(self, key: str, data: Data) -> None:
        with self.writer(key) as handle:
            for chunk in chunks(data):
                handle.write(chunk)

    def move(self, key: str, to: Store, to_key: str) -> None:
        if isinstance(to, FsspecStore) and self.moves_to(to):
            with self._translated():
                self.fs.mv(self._path(key), to._path(to_key))
            return
        with self.open(key) as reader, to.writer(to_key) as writer:
            copy_stream(reader, writer)
        self.delete(key)

    def moves_to(self, other: Store) -> bool:
        return isinstance(other, FsspecStore) and other.fs is self.fs

    def delete(self, key: str) -> None:
        with self._translated(), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    # -- the rest -------------------------------------------------------------------

    def location(self, key: str) -> str:
        return join(self.url.rstrip("/"), key) if key else self.url

    def local_path(self, key: str) -> Path | None:
        return None

    def prune(self) -> None:
        """Object stores have no folders to leave behind."""

    def check(self) -> None:
        """The bucket must exist and take our credentials; an empty prefix is fine."""
        bucket = self.root.split("/", 1)[0]
        self.fs.invalidate_cache()
        try:
            self.fs.ls(bucket, detail=False)
        except FileNotFoundError:
            raise StoreUnavailable(
                self.setting, self.url, f"the bucket {bucket!r} does not exist"
            ) from None
        except PermissionError as exc:
            reason = f"the store refused the credentials ({self._reason(exc)})"
            raise StoreUnavailable(self.setting, self.url, reason) from None
        except Exception as exc:  # unreachable endpoint, bad options: all configuration
            raise StoreUnavailable(self.setting, self.url, self._reason(exc)) from None

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """The store's and its client's errors as tidegate's, in this one place."""
        try:
            yield
        except (FileNotFoundError, StoreError):
            raise
        except PermissionError as exc:
            reason = f"the store refused the credentials ({self._reason(exc)})"
            raise StoreUnavailable(self.setting, self.url, reason) from exc
        except (TimeoutError, ConnectionError) as exc:
            raise TransientStoreError(self.setting, self.url, self._reason(exc)) from exc
        except OSError as exc:
            raise StoreError(self.setting, self.url, self._reason(exc)) from exc

    def _reason(self, exc: BaseException) -> str:
        """One line of the client's reason, without a configured secret in it."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return hide_passwords(text)


def _mtime(info: Mapping[str, Any]) -> float:
    for name in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def _etag(info: Mapping[str, Any]) -> str | None:
    for name in ("ETag", "etag", "md5Hash", "content_md5", "md5"):
        value = info.get(name)
        if value:
            return str(value).strip('"')
    return None


def _discard(handle: Any) -> None:
    """Abandon a write (an S3 multipart upload is aborted), so no partial object appears."""
    discard = getattr(handle, "discard", None)
    if callable(discard):
        with contextlib.suppress(Exception):
            discard()
    with contextlib.suppress(Exception):
        handle.closed = True  # fsspec's buffered files commit on close: never close it


def secret_values(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The option values that are credentials, to be kept out of every message."""
    found: list[str] = []
    for name, value in options.items():
        if isinstance(value, Mapping):
            found.extend(secret_values(value))
        elif isinstance(value, str) and any(w in name.lower() for w in SECRET_WORDS):
            found.append(value)
    return tuple(v for v in found if len(v) >= 4)
