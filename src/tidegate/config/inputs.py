"""Everything a project's loaded configuration is made from, as one digest, read without
PyYAML or pydantic.

``load_project`` is a function of the files it reads (``tidegate.yml``, ``targets/`` and
``sources/`` YAML, ``models/*.sql``, ``.env``), of the variables those files name, and of
tidegate's own code. Two equal digests of those are two equal loads: a run with nothing
to do (``tidegate.idle``) can then use what it kept of the last load instead of loading
again, which costs more than the rest of the run (``docs/benchmarks.md``, "The start").
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from importlib.util import find_spec
from pathlib import Path

from tidegate import __version__

__all__ = ["PROJECT_FILES", "VARIABLE", "YAML_SUFFIXES", "digest"]

PROJECT_FILES = ("tidegate.yml", "tidegate.yaml")  # the first one found is the project's
YAML_SUFFIXES = (".yml", ".yaml")
FOLDERS = {"targets": YAML_SUFFIXES, "sources": YAML_SUFFIXES, "models": (".sql",)}
# ``${NAME}``, ``${NAME:-default}`` and the escape ``$${NAME}``: in project files and .env.
VARIABLE = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PACKAGE = Path(__file__).resolve().parent.parent
LOADERS = ("pydantic", "pydantic_core", "yaml", "dotenv")  # what a load runs besides tidegate


def digest(root: Path) -> str | None:
    """The digest of what loading the project in ``root`` reads, or None when a file of
    it cannot be read (a load will say why)."""
    files = [root / name for name in PROJECT_FILES if (root / name).is_file()][:1]
    for folder, suffixes in FOLDERS.items():
        files += _listed(root / folder, suffixes)
    if (root / ".env").is_file():
        files.append(root / ".env")
    found = hashlib.sha256(f"{__version__}\0{_code()}\0".encode())
    named: set[str] = set()
    try:
        for file in files:
            data = file.read_bytes()
            found.update(f"{file.relative_to(root)}\0{len(data)}\0".encode() + data)
            named |= {m.group(2) for m in VARIABLE.finditer(data.decode(errors="replace"))}
    except (OSError, ValueError):
        return None
    for name in sorted(named):  # the variables the files name, as the environment has them
        value = os.environ.get(name)
        found.update(f"{name}\0{'-' if value is None else '=' + value}\0".encode())
    return found.hexdigest()


def _listed(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix in suffixes)
    except OSError:  # no folder: none of its files
        return []


@functools.cache
def _code() -> str:
    """Where tidegate's modules and the packages that load a project are, and when each
    last changed: a changed check in a working copy, or another pydantic, is a changed
    load without a new version number (found once per process, without importing them)."""
    files = [os.path.join(d, n) for d, _, ns in sorted(os.walk(PACKAGE)) for n in sorted(ns)]
    files = [f for f in files if f.endswith(".py")]
    for package in LOADERS:
        spec = find_spec(package)
        files.append(os.path.realpath(spec.origin) if spec and spec.origin else package)
    return "\n".join(_changed(file) for file in files)


def _changed(file: str) -> str:
    try:
        found = os.stat(file)
    except OSError:
        return file
    return f"{file}:{found.st_size}:{found.st_mtime_ns}"
