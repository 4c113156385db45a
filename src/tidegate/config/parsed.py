"""The expressions of a project already known to parse, so that loading an unchanged
project does not import sqlglot (its DuckDB dialect is most of what loading a project
costs: ``docs/benchmarks.md``, "The start").

Loading a project proves that each mapping, derive, check and unnest is one DuckDB SQL
expression. That proof depends on the expression's text and on the code that parses it
(sqlglot and ``tidegate.config.checks``) and on nothing else. So after a load,
``.tidegate/parsed.json`` keeps the digests of the texts that parsed, beside where that
code is and when it last changed; the next load parses only the texts it does not find
there. A text that did not parse is never kept: it is parsed, and told in the same
words, every time. Another sqlglot, another tidegate or a changed check, and every text
is parsed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from tidegate import __version__

__all__ = ["Parsed"]

FILE = Path(".tidegate") / "parsed.json"
Check = Callable[[str], "str | None"]  # why a text is not an expression, or None


class Parsed:
    """A check of expressions that skips the texts known to parse and keeps the rest.

    >>> parsed = Parsed(Path("no_such_project"), lambda text: None)
    >>> parsed.problem("a + 1") is None and parsed.fresh
    True
    """

    def __init__(self, root: Path, check: Check) -> None:
        self.path = root / FILE
        self.check = check
        self.known = _read(self.path)
        self.seen: set[str] = set()
        self.fresh = False  # a text parsed now, not known before

    def problem(self, text: str) -> str | None:
        """Why ``text`` is not one expression, or None: ``check``'s answer, except for a
        text known to parse."""
        digest = _digest(text)
        if digest in self.known:
            self.seen.add(digest)
            return None
        found = self.check(text)
        if found is None:
            self.seen.add(digest)
            self.fresh = True
        return found

    def keep(self) -> None:
        """Keep the digests of the texts of this load that parse (those of texts no longer
        in the project go); a project that cannot keep them is parsed every time."""
        if not self.fresh and self.seen == self.known:
            return
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        kept = {"code": _code(), "parsed": sorted(self.seen)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(kept), encoding="utf-8")
            temporary.replace(self.path)  # another load reads all of it or none
        except OSError:
            pass


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path: Path) -> set[str]:
    """The digests kept in ``path``, if the code that parsed them is still the code."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept["code"] != _code():
            return set()
        return {str(digest) for digest in kept["parsed"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _code() -> list[object]:
    """Where the parsing code is and when it last changed, found without importing it."""
    return [__version__, _changed("sqlglot"), _changed("tidegate.config.checks")]


def _changed(module: str) -> list[object] | None:
    spec = find_spec(module)
    if spec is None or spec.origin is None:
        return None
    origin = os.path.realpath(spec.origin)  # the same files, however the venv was reached
    try:
        found = os.stat(origin)
    except OSError:
        return [origin]
    return [origin, found.st_size, found.st_mtime_ns]
