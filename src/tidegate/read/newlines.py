"""Record endings: CR, LF and CRLF are all promised, and a file may mix them.

DuckDB's CSV parser takes one line ending per file. On a file that mixes them it either
stops (``state machine reached an invalid state``) or, when a quoted header cell holds a
line break of the other kind, takes that for the ending and finds no records at all. So a
file's endings are counted first, at memory speed; a file that uses one kind is read as it
is, with that ending given to DuckDB. Any other file is walked quote by quote: if only
quoted values hold the other kinds, its records still end one way and it is read as it is;
otherwise it is read from a copy in scratch with every record ending outside quotes made
LF. Line breaks inside quoted values are data and stay as they are.

>>> endings(io.BytesIO(b"a\\r\\nb\\r\\n").read, 4)
Endings(cr=2, lf=2, crlf=2)
>>> normalise_text(['a\\r\\n"x\\r\\ny"\\rb\\n'], '"', '"')
'a\\n"x\\r\\ny"\\nb\\n'
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.read.text import Text, rehead

if TYPE_CHECKING:
    from tidegate.read.dialect import Dialect

CHUNK = 1 << 20
LF = "\n"
CRLF = "\r\n"
CR = "\r"
MIXED = "mixed"
_ENDING = re.compile(r"\r\n?")


@dataclass(frozen=True)
class Endings:
    """How many CR, LF and CRLF sequences a file holds (a CRLF counts in all three)."""

    cr: int
    lf: int
    crlf: int

    @property
    def uniform(self) -> str | None:
        """The one ending every line break uses, or None if they are mixed."""
        if self.cr == 0:
            return LF
        if self.lf == 0:
            return CR
        if self.cr == self.crlf == self.lf:
            return CRLF
        return None


def uniform_endings(text: Text, dialect: Dialect, workdir: Path) -> tuple[Text, Dialect]:
    """The text with one kind of record ending, and the dialect naming it."""
    with text.source.open() as stream:
        counted = endings(stream.read)
    ending = counted.uniform
    if ending is not None:
        return text, replace(dialect, newline=ending)
    dest = workdir / f"{text.source.name}.lf"
    with text.source.open() as stream:
        decoded = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
        used = normalise(decoded.read, dest, dialect.quote, dialect.escape)
    if used != MIXED:
        # Only quoted values broke lines the other way: the records are read as they are.
        dest.unlink()
        return text, replace(dialect, newline=used)
    rewritten = rehead(text, replace(text.source, path=dest, gzip=False))
    return rewritten, replace(dialect, newline=LF, ending=MIXED)


def endings(read: Callable[[int], bytes], chunk: int = CHUNK) -> Endings:
    """Count the line breaks of a byte stream, chunk by chunk (a CRLF may straddle two)."""
    cr = lf = crlf = 0
    last = b""
    while block := read(chunk):
        lf += block.count(b"\n")
        here = block.count(b"\r")
        if here or last == b"\r":
            # Only blocks with a CR pay for the two-byte search (LF files never do).
            cr += here
            crlf += block.count(b"\r\n") + int(last == b"\r" and block[:1] == b"\n")
        last = block[-1:]
    return Endings(cr, lf, crlf)


def normalise_text(chunks: Iterable[str], quote: str, escape: str) -> str:
    """The whole text with every record ending outside quotes made LF (for small inputs)."""
    return "".join(_normalised(chunks, quote, escape, Counter()))


def normalise(read: Callable[[int], str], dest: Path, quote: str, escape: str) -> str:
    """Write the text ``read`` yields to ``dest`` with record endings made LF.

    Returns the ending the records used (``mixed`` if more than one): line breaks inside
    quoted values do not count.
    """
    seen: Counter[str] = Counter()
    with dest.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        for piece in _normalised(iter(lambda: read(CHUNK), ""), quote, escape, seen):
            out.write(piece)
    used = [ending for ending, n in seen.items() if n]
    return used[0] if len(used) == 1 else MIXED


def _normalised(
    chunks: Iterable[str], quote: str, escape: str, seen: Counter[str]
) -> Iterator[str]:
    """Walk the quotes once: outside them CRLF and CR become LF, inside nothing changes.

    With a doubled quote as escape (RFC 4180) parity of quotes is the state; another escape
    character hides the character after it while inside quotes. A chunk's last character is
    held back when it is CR or an escape, since what follows decides.
    """
    quoted = False
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        carry = ""
        if text and (text[-1] == CR or (escape and escape != quote and text[-1] == escape)):
            text, carry = text[:-1], text[-1]
        out, quoted = _one(text, quote, escape, quoted, seen)
        yield out
    if carry:
        out, _ = _one(carry, quote, escape, quoted, seen)
        yield out


def _one(text: str, quote: str, escape: str, quoted: bool, seen: Counter[str]) -> tuple[str, bool]:
    """One chunk: endings outside quotes made LF; whether it ends inside quotes."""

    def outside(segment: str) -> str:
        crlf = segment.count(CRLF)
        seen.update({CRLF: crlf, CR: segment.count(CR) - crlf, LF: segment.count(LF) - crlf})
        return _ENDING.sub(LF, segment)

    if not quote:
        return outside(text), False
    marks = _marks(quote, escape)
    parts: list[str] = []
    start = at = 0
    while found := marks.search(text, at):
        i = found.start()
        if text[i] != quote:
            # An escape hides the next character inside quotes; outside it is plain text.
            at = i + 2 if quoted else i + 1
            continue
        if quoted:
            parts.append(text[start : i + 1])
            start = i + 1
        else:
            parts.append(outside(text[start:i]))
            start = i
        quoted = not quoted
        at = i + 1
    tail = text[start:]
    parts.append(tail if quoted else outside(tail))
    return "".join(parts), quoted


def _marks(quote: str, escape: str) -> re.Pattern[str]:
    chars = quote + (escape if escape and escape != quote else "")
    return re.compile(f"[{re.escape(chars)}]")
