"""Why a file could not be read, in the user's terms: the one translation of engine errors.

DuckDB's messages name its parser's states and options; a user needs the place (line,
record, byte) and what to change. Known messages map to a reason by pattern; any other
engine error keeps only its first sentence, without DuckDB's error class.

>>> explain(RecursionError("maximum recursion depth exceeded"), "json")
'the data is nested too deeply to read'
>>> explain(ValueError("Invalid Input Error: CSV Error on Line: 7\\nOriginal Line: a;b"), "csv")
'the records cannot be split at line 7; check read.delimiter, read.quote and read.escape'
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable

FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "json": "JSON", "jsonl": "JSON Lines"}
SPLIT_HINT = "check read.delimiter, read.quote and read.escape"
_ENGINE_CLASS = re.compile(r"^[A-Z][A-Za-z ]*Error: ")

Explainer = Callable[[re.Match[str], str], str]


def _csv_line(found: re.Match[str], fmt: str) -> str:
    return f"the records cannot be split at line {found[1]}; {SPLIT_HINT}"


def _state(found: re.Match[str], fmt: str) -> str:
    return f"the records cannot be split with the dialect found; {SPLIT_HINT}"


def _json(found: re.Match[str], fmt: str) -> str:
    # DuckDB's record number counts values inside the document too; the byte is exact.
    what = found[3].strip().rstrip(".")
    return f"not valid JSON at byte {found[1]}: {what}"


def _memory(found: re.Match[str], fmt: str) -> str:
    return "not enough memory to read the file; raise the engine's memory limit"


def _io(found: re.Match[str], fmt: str) -> str:
    return f"cannot read the file: {found[1].strip()}"


KNOWN: tuple[tuple[re.Pattern[str], Explainer], ...] = (
    (re.compile(r"CSV Error on Line: (\d+)"), _csv_line),
    (re.compile(r"state machine reached an invalid state"), _state),
    (re.compile(r"Malformed JSON.*?at byte (\d+) in (?:line|record/value) (\d+): ([^\n]*)"), _json),
    (re.compile(r"Out of Memory Error"), _memory),
    (re.compile(r"^IO Error: ([^\n]*)"), _io),
)


def explain(exc: BaseException, fmt: str) -> str:
    """A one-line reason for ``exc``, raised while reading a file of format ``fmt``."""
    if isinstance(exc, RecursionError):
        return "the data is nested too deeply to read"
    if isinstance(exc, csv.Error):
        return f"the records cannot be split: {exc}; {SPLIT_HINT}"
    text = str(exc).strip()
    for pattern, reason in KNOWN:
        found = pattern.search(text)
        if found:
            return reason(found, fmt)
    first = _ENGINE_CLASS.sub("", text.splitlines()[0] if text else type(exc).__name__)
    return f"cannot be read as {FORMAT_NAMES.get(fmt, fmt)}: {first}"
