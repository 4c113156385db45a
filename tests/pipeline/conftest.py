"""A small project written by the tests, and a snapshot of everything a run leaves behind."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from tidegate.config import load_project
from tidegate.sql import col, table
from tidegate.warehouse import Warehouse, connect

from .. import command_line

PROJECT = """\
warehouse: {type: duckdb, path: warehouse.duckdb}
settle_seconds: 0
"""


def project_file(warehouse_line: str) -> str:
    return PROJECT.replace("warehouse: {type: duckdb, path: warehouse.duckdb}", warehouse_line)


PEOPLE_TARGET = """\
columns:
  id:     {type: integer, required: true}
  name:   {type: varchar, required: true}
  email:  {type: varchar, pattern: '^[^@]+@[^@]+$'}
  born:   {type: date, formats: ['%m/%d/%Y']}
key: [id]
load: append
"""

PEOPLE_SCD2_TARGET = PEOPLE_TARGET.replace("load: append", "load: scd2")  # with history


PEOPLE_SOURCE = """\
match: "people*.csv"
outputs:
  - target: people
    columns:
      id: '"ID"'
      name: trim("Full Name")
      email: lower("E-mail")
      born: '"Born"'
"""


def people_csv(*rows: tuple[str, ...]) -> str:
    lines = ["ID,Full Name,E-mail,Born", *(",".join(r) for r in rows)]
    return "\n".join(lines) + "\n"


def write_project(root: Path, files: dict[str, str] | None = None) -> Path:
    contents = {
        "tidegate.yml": PROJECT,
        "targets/people.yml": PEOPLE_TARGET,
        "sources/people.yml": PEOPLE_SOURCE,
        **(files or {}),
    }
    for name, text in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def land(root: Path, name: str, text: str) -> Path:
    path = root / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def tidegate(
    root: Path | None, *args: str, env: dict[str, str] | None = None, in_process: bool = True
) -> subprocess.CompletedProcess[str]:
    """The command line (``--project root`` unless root is None): in this process, or in its
    own with ``in_process=False`` or a fault set (see tests/command_line.py)."""
    project = ["--project", str(root)] if root is not None else []
    return command_line.tidegate([*args, *project], env, in_process=in_process)


SNAPSHOT_TABLES = (
    ("core", "people"),
    ("raw", "people"),
    ("tidegate", "files"),
    ("tidegate", "quarantine"),
)
VOLATILE = {
    "_loaded_at",
    "started_at",
    "finished_at",
    "run_id",
    "quarantined_at",
    "replayed_at",
    "modified_at",
    "context",  # holds the mtime and the load time
}


def _table_rows(wh: Warehouse, schema: str, name: str) -> list[tuple[Any, ...]] | None:
    columns = wh.columns_of(name, schema)
    if columns is None:
        return None
    kept = [c for c in columns if c not in VOLATILE]
    rows = wh.execute(exp.select(*[col(c) for c in kept]).from_(table(name, schema)))
    return sorted((tuple(str(v) for v in row) for row in rows), key=repr)


def _folder(root: Path) -> dict[str, str]:
    """Relative path -> hash of the (decompressed) content of every file under root."""
    found = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = _decompressed(data)
            found[path.relative_to(root).as_posix()] = hashlib.sha256(data).hexdigest()
    return found


def _decompressed(data: bytes) -> bytes:
    """A gzip file's content; a file that only claims to be one (rejected) as it is."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError):
        return data


def snapshot(root: Path) -> dict[str, Any]:
    """Everything a run leaves, minus times and run ids: two equal snapshots, two equal runs."""
    state: dict[str, Any] = {}
    with connect(load_project(root)) as wh:
        for schema, name in SNAPSHOT_TABLES:
            state[f"{schema}.{name}"] = _table_rows(wh, schema, name)
    for folder in ("landing", "archive", "rejected"):
        state[folder] = _folder(root / folder)
    return state


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")
