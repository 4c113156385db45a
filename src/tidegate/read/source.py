"""A landing file made ready to read: a zip's single member extracted, gzip noted.

DuckDB reads gzip itself, so a ``.gz`` file is left as it is and read through; a zip is
not, so its one data member is streamed out to the scratch folder first.
"""

from __future__ import annotations

import gzip
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from tidegate.errors import ReadError

SAMPLE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
ZIP_SUFFIXES = (".zip",)
# Excel workbooks are zip files too, and are read as workbooks.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".ods")
_STREAM_ERRORS = (OSError, EOFError, zlib.error)


@dataclass(frozen=True)
class Source:
    """A readable file: ``path`` is plain or gzip; ``origin`` is the file that landed."""

    path: Path
    origin: Path
    gzip: bool

    @property
    def label(self) -> str:
        """How errors name the file."""
        return str(self.origin)

    @property
    def name(self) -> str:
        """The file name that says the format: without ``.gz``, a zip member's own name."""
        name = self.path.name
        return name[: -len(".gz")] if self.gzip and name.lower().endswith(".gz") else name

    @property
    def compression(self) -> Literal["gzip", "none"]:
        """The ``compression`` option of DuckDB's readers."""
        return "gzip" if self.gzip else "none"

    def open(self) -> BinaryIO:
        """The file's (decompressed) bytes."""
        if self.gzip:
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return self.path.open("rb")

    def sample(self, size: int = SAMPLE) -> tuple[bytes, bool]:
        """The first ``size`` decompressed bytes, and whether that is the whole file."""
        try:
            with self.open() as stream:
                head = stream.read(size)
                return head, not stream.read(1)
        except _STREAM_ERRORS as exc:
            raise ReadError(self.label, f"cannot read the file: {exc}") from exc

    def plain(self, workdir: Path) -> Path:
        """A path to the decompressed bytes, for readers that cannot read gzip."""
        if not self.gzip:
            return self.path
        dest = workdir / self.name
        try:
            with self.open() as stream, dest.open("wb") as out:
                shutil.copyfileobj(stream, out)
        except _STREAM_ERRORS as exc:
            raise ReadError(self.label, f"cannot decompress the file: {exc}") from exc
        return dest


def open_source(path: Path, workdir: Path) -> Source:
    """The file ready to read; a zip's member lands in ``workdir``."""
    if not path.is_file():
        raise ReadError(str(path), "no such file")
    if is_zip(path):
        extracted = _extract(path, data_member(path), workdir)
        return Source(extracted, path, _is_gzip_file(extracted))
    return Source(path, path, _is_gzip_file(path))


def is_zip(path: Path) -> bool:
    """A zip archive (not an Excel workbook, which is also a zip)."""
    lower = path.name.lower()
    if lower.endswith(WORKBOOK_SUFFIXES):
        return False
    if lower.endswith(ZIP_SUFFIXES):
        return True
    return _magic(path, len(ZIP_MAGIC)) == ZIP_MAGIC and not _is_workbook(path)


def data_member(path: Path) -> str:
    """The one data member of a zip; anything else is an error that lists what is there."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(str(path), f"not a readable zip archive: {exc}") from exc
    data = [name for name in names if _is_data_member(name)]
    if len(data) != 1:
        raise ReadError(
            str(path),
            f"a zip must hold exactly one data file; it holds {len(data)}: {data or names}",
        )
    return data[0]


def member_head(path: Path, member: str, size: int = SAMPLE) -> bytes:
    """The first bytes of a zip member, decompressed."""
    with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
        head = stream.read(size)
    if head.startswith(GZIP_MAGIC):
        return zlib.decompressobj(wbits=31).decompress(head, size)
    return head


def _extract(path: Path, member: str, workdir: Path) -> Path:
    dest = workdir / PurePosixPath(member).name
    try:
        with (
            zipfile.ZipFile(path) as archive,
            archive.open(member) as stream,
            dest.open("wb") as out,
        ):
            shutil.copyfileobj(stream, out)
    except (zipfile.BadZipFile, *_STREAM_ERRORS) as exc:
        raise ReadError(str(path), f"cannot extract {member!r} from the zip: {exc}") from exc
    return dest


def _is_data_member(name: str) -> bool:
    """Skip the folders and dot files that archivers add (``__MACOSX/``, ``.DS_Store``)."""
    parts = PurePosixPath(name).parts
    return not any(part.startswith((".", "__MACOSX")) for part in parts)


def _is_gzip_file(path: Path) -> bool:
    return path.name.lower().endswith(".gz") or _magic(path, len(GZIP_MAGIC)) == GZIP_MAGIC


def _is_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.startswith("xl/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _magic(path: Path, size: int) -> bytes:
    with path.open("rb") as stream:
        return stream.read(size)
