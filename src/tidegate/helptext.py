"""``--help`` without typer, rich or pydantic: the text typer printed last time, kept.

Rendering help means importing typer, click and rich and building every command, several
times the cost of printing it. What the text depends on is known: the words asked about,
how the program was started (typer names it in the usage line), the terminal (its width,
whether it is one, the variables rich and typer read) and the code that renders it (the
commands module, typer, click and rich, by path, size and modification time). So the
first ``tidegate [COMMAND...] --help`` is rendered by typer and kept in tidegate's cache
folder under a digest of all of that; the next one with the same digest prints the kept
text, byte for byte, with the exit code it had. A change to any of it is a new digest,
rendered by typer again. Nothing else is ever answered from the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TextIO

# What rich and typer read from the environment to decide widths, colours and styles.
ENVIRONMENT = (
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERMINAL_WIDTH",
    "GITHUB_ACTIONS",
    "DATABRICKS_RUNTIME_VERSION",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
)
PREFIXES = ("TYPER_", "_TYPER_", "RICH_", "CLICK_", "TIDEGATE_")
RENDERERS = ("tidegate.commands", "typer", "click", "rich")
HELP = "--help"


def wanted(args: Sequence[str]) -> bool:
    """Whether ``args`` ask for help only: command names, then ``--help``.

    >>> [wanted(a) for a in (["--help"], ["run", "--help"], ["run", "-p", "x", "--help"])]
    [True, True, False]
    """
    return bool(args) and args[-1] == HELP and all(_word(a) for a in args[:-1])


def _word(arg: str) -> bool:
    return arg.replace("-", "").replace("_", "").isalnum() and not arg.startswith("-")


def shown(args: Sequence[str]) -> int | None:
    """Print the kept help for ``args`` and return its exit code; None when none is kept."""
    if not wanted(args):
        return None
    try:
        kept = json.loads(_entry(args).read_text(encoding="utf-8"))
        text, code = str(kept["stdout"]), int(kept["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sys.stdout.write(text)
    sys.stdout.flush()
    return code


def rendered(args: Sequence[str], render: Callable[[], None]) -> None:
    """Run ``render`` (typer); when ``args`` asked for help only and typer printed it and
    nothing else, keep what it printed for the next time."""
    if not wanted(args):
        render()
        return
    with _recorded(sys.stdout) as out, _recorded(sys.stderr) as err:
        try:
            render()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            raise
        finally:
            if not err.getvalue() and out.getvalue():
                _keep(args, out.getvalue(), code)


@contextmanager
def _recorded(stream: TextIO) -> Iterator[io.StringIO]:
    """``stream`` as it is, with a copy of all that is written to it."""
    copy = io.StringIO()
    name = "stdout" if stream is sys.stdout else "stderr"
    setattr(sys, name, _Tee(stream, copy))
    try:
        yield copy
    finally:
        setattr(sys, name, stream)


class _Tee:
    """A text stream that also copies what is written; everything else is the stream's
    own (rich asks it whether it is a terminal, its encoding and its descriptor)."""

    def __init__(self, stream: TextIO, copy: io.StringIO) -> None:
        self._stream = stream
        self._copy = copy

    def write(self, text: str) -> int:
        self._copy.write(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _keep(args: Sequence[str], text: str, code: int) -> None:
    path = _entry(args)
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"stdout": text, "code": code}), encoding="utf-8")
        temporary.replace(path)  # another process reads the whole text or none of it
    except OSError:
        pass  # no cache folder: typer renders the help every time, as it always did


def _entry(args: Sequence[str]) -> Path:
    return cache_folder() / f"{digest(args)}.json"


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tidegate" / "help"


def digest(args: Sequence[str]) -> str:
    """Everything the help text depends on, as one digest."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    facts = {
        "args": list(args),
        "program": [sys.argv[0], getattr(main, "__package__", None), getattr(spec, "name", None)],
        "python": [sys.version, sys.platform, sys.executable],
        "terminal": [_terminal(fd) for fd in (0, 1, 2)],
        "encoding": getattr(sys.stdout, "encoding", None),
        "environment": _environment(),
        "code": [_source(name) for name in RENDERERS],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _terminal(fd: int) -> list[object]:
    try:
        return [os.isatty(fd), *os.get_terminal_size(fd)]
    except (OSError, ValueError):
        return [False]


def _environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in ENVIRONMENT or name.startswith(PREFIXES)
    }


def _source(module: str) -> list[object] | None:
    """Where a module's code is and when it last changed (found without importing it)."""
    spec = find_spec(module)
    origin = None if spec is None else spec.origin
    if origin is None:
        return None
    try:
        found = os.stat(origin)
    except OSError:
        return [origin]
    return [origin, found.st_size, found.st_mtime_ns]
