"""Text encodings: detect one from a sample, and turn anything that is not UTF-8 into UTF-8.

DuckDB reads UTF-8 only. A byte-order mark decides first; then a sample that is valid UTF-8
is UTF-8; anything else is a legacy single-byte file, where Western European (Windows-1252)
wins unless charset-normalizer is clearly more confident of another code page: on short
samples it readily names exotic pages (cp775, cp1006) for plain French or German text.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes

from tidegate.errors import ReadError

CHUNK = 1 << 20
# Bytes either side of a non-UTF-8 byte that a guess looks at.
WINDOW = 1 << 15
UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
WESTERN = "cp1252"
# Bytes Windows-1252 leaves undefined: a file holding them is Latin-1 (ISO 8859-1).
CP1252_HOLES = frozenset(b"\x81\x8d\x8f\x90\x9d")
# How much more chaos than the best guess Windows-1252 may show and still be preferred.
WESTERN_SLACK = 0.1
# Below this coherence charset-normalizer did not recognise a language: its pick is noise.
MIN_COHERENCE = 0.2

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, UTF8_BOM),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class Encoding:
    """How a file's bytes become text: a codec name and the byte-order mark to skip."""

    name: str
    bom: bytes = b""

    @property
    def native(self) -> bool:
        """DuckDB reads the bytes as they are (it drops a UTF-8 byte-order mark itself)."""
        return self.name in (UTF8, UTF8_BOM)

    @property
    def text_codec(self) -> str:
        """The codec that decodes the bytes after the mark."""
        return UTF8 if self.name == UTF8_BOM else self.name


def resolve(requested: str, sample: bytes, complete: bool) -> Encoding:
    """The encoding to read with: ``requested`` unless it is ``auto``, else detected.

    A byte-order mark of the requested family is honoured and skipped (``utf-16`` with a
    little-endian mark reads as ``utf-16-le``).
    """
    if requested.lower() == "auto":
        return detect(sample, complete)
    name = codecs.lookup(requested).name
    for mark, named in BOMS:
        if sample.startswith(mark) and named.startswith(name):
            return Encoding(named, mark)
    return Encoding(name)


def detect(sample: bytes, complete: bool) -> Encoding:
    """Byte-order mark, else UTF-8 if the sample decodes, else the likeliest legacy page."""
    for mark, name in BOMS:
        if sample.startswith(mark):
            return Encoding(name, mark)
    if _mostly_nul(sample):
        return Encoding(guess(sample, prefer_western=False))
    bad = _first_invalid_utf8(sample, complete)
    if bad is None:
        return Encoding(UTF8)
    # The bytes around the first non-UTF-8 one decide: they hold the telling characters.
    return Encoding(guess(sample[max(0, bad - WINDOW) : bad + WINDOW]))


def guess(sample: bytes, prefer_western: bool = True) -> str:
    """A legacy encoding for bytes that are not UTF-8 (charset-normalizer, Western first)."""
    best = from_bytes(sample).best()
    western = (
        from_bytes(sample, cp_isolation=[WESTERN], threshold=1.0).best() if prefer_western else None
    )
    if western is not None and (
        best is None
        or best.coherence < MIN_COHERENCE
        or western.chaos <= best.chaos + WESTERN_SLACK
    ):
        return "latin-1" if CP1252_HOLES.intersection(sample) else WESTERN
    if best is None:
        raise ValueError("no text encoding fits the file's bytes")
    return codecs.lookup(best.encoding).name


def transcode(stream: BinaryIO, dest: Path, encoding: Encoding, file: str) -> None:
    """Write the stream as UTF-8 to ``dest``, chunk by chunk, without the byte-order mark."""
    decoder = codecs.getincrementaldecoder(encoding.text_codec)(errors="strict")
    stream.read(len(encoding.bom))
    offset = len(encoding.bom)
    with dest.open("w", encoding=UTF8, newline="") as out:
        while chunk := stream.read(CHUNK):
            out.write(_decode(decoder, chunk, offset, encoding, file, final=False))
            offset += len(chunk)
        out.write(_decode(decoder, b"", offset, encoding, file, final=True))


def _decode(
    decoder: codecs.IncrementalDecoder,
    chunk: bytes,
    offset: int,
    encoding: Encoding,
    file: str,
    final: bool,
) -> str:
    try:
        return decoder.decode(chunk, final=final)
    except UnicodeDecodeError as exc:
        raise ReadError(
            file,
            f"cannot decode the file as {encoding.name} near byte {offset + exc.start}: "
            f"{exc.reason}; set read.encoding to the file's encoding",
        ) from exc


def decode_sample(sample: bytes, complete: bool) -> str:
    """A best-effort text view of a sample (for sniffing formats and headers)."""
    encoding = detect(sample, complete)
    decoder = codecs.getincrementaldecoder(encoding.text_codec)(errors="replace")
    return decoder.decode(sample[len(encoding.bom) :], final=complete)


def _first_invalid_utf8(sample: bytes, complete: bool) -> int | None:
    try:
        codecs.getincrementaldecoder(UTF8)().decode(sample, final=complete)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _mostly_nul(sample: bytes) -> bool:
    """UTF-16/32 text without a byte-order mark: ASCII in it is half NUL bytes."""
    return len(sample) >= 4 and sample.count(0) * 8 > len(sample)
