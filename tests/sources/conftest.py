"""A real HTTP API on loopback for the api: source tests: example 003's own server.

The server is the example's ``serve.py`` (the one its README runs), serving the exercise's
cars, customers and subscriptions from the example's ``source.db``, on a thread of the test
process so a test can inject faults and watch the requests. If it cannot start the test
fails (never skips), under CI and everywhere else.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from sqlglot import exp

from tidegate.config import load_project
from tidegate.sql import col, table
from tidegate.warehouse import connect

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "003-car-subscriptions" / "api"
TABLES = ("cars", "customers", "subscriptions")
COUNTS = {"cars": 1200, "customers": 550, "subscriptions": 1200}


def _serve_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_003_serve", EXAMPLE / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


serve = _serve_module()


@pytest.fixture
def api() -> Iterator[Any]:
    """The example's API on a free loopback port; ``api.state`` takes faults."""
    with serve.serving(EXAMPLE / "source.db") as server:
        yield server


def source_doc(name: str, url: str, **api: Any) -> dict[str, Any]:
    """The example's source file of ``name``, its api: block replaced by these settings."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLE / "sources" / f"{name}.yml").read_text())
    doc["api"] = {"url": f"{url}/{name}", "records": "data.items", **api}
    return doc


def make_project(root: Path, warehouse_line: str, sources: dict[str, dict[str, Any]]) -> Path:
    """A project with the example's targets and the given api: sources."""
    (root / "targets").mkdir(parents=True)
    (root / "sources").mkdir()
    (root / "tidegate.yml").write_text(f"{warehouse_line}\nsettle_seconds: 0\n")
    for name in TABLES:
        (root / "targets" / f"{name}.yml").write_text(
            (EXAMPLE / "targets" / f"{name}.yml").read_text()
        )
    for name, doc in sources.items():
        (root / "sources" / f"{name}.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def landed_records(root: Path, source: str) -> list[dict[str, Any]]:
    """Every record in the source's files in landing, in name order."""
    import json

    folder = root / "landing" / "api" / source
    return [
        json.loads(line)
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def target_rows(root: Path, name: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with connect(load_project(root)) as wh:
        query = exp.select(*(col(c) for c in columns)).from_(table(name, wh.schemas.core))
        return sorted(tuple(row) for row in wh.execute(query))
