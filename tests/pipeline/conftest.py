"""A small project written by the tests, and a snapshot of everything a run leaves behind."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest

PROJECT = """\
warehouse: {type: duckdb, path: warehouse.duckdb}
settle_seconds: 0
"""

PEOPLE_TARGET = """\
columns:
  id:     {type: integer, required: true}
  name:   {type: varchar, required: true}
  email:  {type: varchar, pattern: '^[^@]+@[^@]+$'}
  born:   {type: date, formats: ['%m/%d/%Y']}
key: [id]
load: append
"""

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
    root: Path | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command line, in its own process (``--project root`` unless root is None)."""
    project = ["--project", str(root)] if root is not None else []
    return subprocess.run(
        [sys.executable, "-m", "tidegate.cli", *args, *project],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def _folder(root: Path) -> dict[str, str]:
    """Relative path -> hash of the (decompressed) content of every file under root."""
    found = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            found[path.relative_to(root).as_posix()] = hashlib.sha256(data).hexdigest()
    return found


def snapshot(root: Path) -> dict[str, Any]:
    """Everything a run leaves, minus times and run ids: two equal snapshots, two equal runs."""
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    tables = _rows(con, "SELECT table_schema, table_name FROM information_schema.tables")
    state: dict[str, Any] = {"tables": tables}
    for schema, name in tables:
        if schema in ("core", "raw"):
            state[f"{schema}.{name}"] = _rows(
                con,
                f'SELECT * EXCLUDE (_loaded_at) FROM "{schema}"."{name}"'
                if schema == "core"
                else f'SELECT * FROM "{schema}"."{name}"',
            )
    state["files"] = _rows(
        con,
        "SELECT file_id, source, name, path, sha256, status, rows_read, rows_loaded, rows_unchanged,"
        " rows_quarantined, rows_duplicate, error, archive_path, duplicate_of FROM tidegate.files",
    )
    state["quarantine"] = _rows(
        con, "SELECT file_id, source, target, row, reasons, record, status FROM tidegate.quarantine"
    )
    con.close()
    for folder in ("landing", "archive", "rejected"):
        state[folder] = _folder(root / folder)
    return state


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")
