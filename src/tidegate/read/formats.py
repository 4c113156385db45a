"""Which reader a file needs: by its extension (through ``.gz`` and ``.zip``), else its bytes."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import get_args

from tidegate.config.models import FORMATS
from tidegate.errors import ReadError
from tidegate.read.encoding import decode_sample
from tidegate.read.source import (
    GZIP_MAGIC,
    SAMPLE,
    ZIP_MAGIC,
    Source,
    data_member,
    is_zip,
    member_head,
)

KNOWN = frozenset(get_args(FORMATS)) - {"auto"}
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    # python-calamine reads every Excel and OpenDocument workbook.
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xlsb": "xlsx",
    ".xls": "xlsx",
    ".ods": "xlsx",
}
PARQUET_MAGIC = b"PAR1"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls


def detect_format(path: Path, hint: str = "auto") -> str:
    """``csv``, ``tsv``, ``json``, ``jsonl``, ``parquet`` or ``xlsx``.

    The hint wins unless it is ``auto``; then the extension (looking through ``.gz`` and a
    zip's single member), then the content. ``.json`` files are opened either way, since
    many of them are JSON Lines.
    """
    if hint != "auto":
        return checked(hint, str(path))
    if not path.is_file():
        raise ReadError(str(path), "no such file")
    if is_zip(path):
        member = data_member(path)
        name = PurePosixPath(member).name
        return format_for(_strip_gz(name), lambda: member_head(path, member))
    return format_for(_strip_gz(path.name), lambda: _head(path))


def source_format(source: Source, hint: str = "auto") -> str:
    """The format of an opened source (its zip member already extracted)."""
    if hint != "auto":
        return checked(hint, source.label)
    return format_for(source.name, lambda: source.sample()[0])


def checked(hint: str, file: str) -> str:
    if hint not in KNOWN:
        raise ReadError(file, f"unknown format {hint!r}; expected one of {sorted(KNOWN)}")
    return hint


def format_for(name: str, head: Callable[[], bytes]) -> str:
    suffix = PurePosixPath(name.lower()).suffix
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    sample = head()
    if suffix == ".json":
        return json_kind(sample) or "json"
    return by_content(sample)


def by_content(sample: bytes) -> str:
    """Magic numbers, then JSON's first character; everything else is delimited text."""
    if sample.startswith(PARQUET_MAGIC):
        return "parquet"
    if sample.startswith((ZIP_MAGIC, OLE_MAGIC)):
        return "xlsx"
    return json_kind(sample) or "csv"


def json_kind(sample: bytes) -> str | None:
    """``json`` for a document, ``jsonl`` for one object per line, None if not JSON.

    A file is JSON Lines when its first line is a whole object and more lines follow.
    """
    text = decode_sample(sample, complete=len(sample) < SAMPLE).lstrip()
    if text.startswith("["):
        return "json"
    if not text.startswith("{"):
        return None
    first, _, rest = text.partition("\n")
    try:
        whole = isinstance(json.loads(first), dict)
    except ValueError:
        return "json"
    except RecursionError:
        # Nested too deeply for Python's parser; the reader judges the record itself.
        whole = first.rstrip().endswith("}")
    return "jsonl" if whole and rest.strip() else "json"


def _strip_gz(name: str) -> str:
    return name[:-3] if name.lower().endswith(".gz") else name


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            head = stream.read(SAMPLE)
        if head.startswith(GZIP_MAGIC):
            with gzip.open(path, "rb") as unzipped:
                return unzipped.read(SAMPLE)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReadError(str(path), f"cannot read the file: {exc}") from exc
    return head
