"""Text files made readable by DuckDB: UTF-8, gzip allowed, with a decoded sample."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, replace
from pathlib import Path

from tidegate.errors import EmptyFileError, ReadError
from tidegate.read.encoding import WINDOW, Encoding, guess, resolve
from tidegate.read.encoding import transcode as to_utf8
from tidegate.read.source import Source


@dataclass(frozen=True)
class Text:
    """``source`` holds UTF-8 (transcoded to scratch if the file was not); ``head`` is its start."""

    source: Source
    encoding: Encoding
    detected: bool
    head: str
    complete: bool

    @property
    def label(self) -> str:
        return self.source.label


def prepare(source: Source, requested: str, workdir: Path, transcode: bool = True) -> Text:
    """Detect (or take) the encoding and transcode to UTF-8 where DuckDB could not read it.

    Without ``transcode`` only the head is decoded (enough to peek at a header).
    """
    raw, complete = source.sample()
    try:
        encoding = resolve(requested, raw, complete)
    except LookupError as exc:
        raise ReadError(source.label, f"unknown encoding {requested!r} in read.encoding") from exc
    except ValueError as exc:
        raise ReadError(source.label, str(exc)) from exc
    detected = requested.lower() == "auto"
    return _as_utf8(source, encoding, detected, raw, complete, workdir if transcode else None)


def redetect(text: Text, offset: int, original: Source, workdir: Path) -> Text:
    """A file that looked like UTF-8 but is not, judged on the bytes around ``offset``."""
    with original.open() as stream:
        start = max(0, offset - WINDOW)
        stream.seek(start)
        window = stream.read(2 * WINDOW)
    try:
        encoding = Encoding(guess(window))
    except ValueError as exc:
        raise ReadError(text.label, f"invalid UTF-8 near byte {offset} and {exc}") from exc
    raw, complete = original.sample()
    return _as_utf8(original, encoding, True, raw, complete, workdir)


def rehead(text: Text, source: Source) -> Text:
    """The same text read from ``source`` (a rewritten copy): its head taken anew."""
    raw, complete = source.sample()
    head = codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(raw, final=complete)
    return replace(text, source=source, head=head, complete=complete)


def _as_utf8(
    source: Source,
    encoding: Encoding,
    detected: bool,
    raw: bytes,
    complete: bool,
    workdir: Path | None,
) -> Text:
    decoder = codecs.getincrementaldecoder(encoding.text_codec)(errors="replace")
    head = decoder.decode(raw[len(encoding.bom) :], final=complete)
    if not head.strip():
        raise EmptyFileError(source.label)
    if not encoding.native and workdir is not None:
        dest = workdir / f"{source.name}.utf8"
        with source.open() as stream:
            to_utf8(stream, dest, encoding, source.label)
        source = replace(source, path=dest, gzip=False)
    return Text(source, encoding, detected, head, complete)
