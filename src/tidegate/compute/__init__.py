"""The compute engine: what reads, maps and checks, for every warehouse.

``Engine`` (``engine.py``) is the seam; ``duckdb.py`` is the in-process implementation.
The rest of tidegate asks an ``Engine`` and never imports an engine's driver: this
package and ``tidegate.warehouse`` are the only ones that do.

- ``work.py``: small helpers over any engine (counts, the temporary relation tree);
- ``rows.py``: the rows a file gives the warehouse (target, raw and quarantine rows);
- ``reserved.py``: file columns named like tidegate's own;
- ``failures.py``: engine errors of the map-and-check step, pointing at the expression.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.compute.engine import BATCH_ROWS, Engine, ErrorKind, WorkRelation

if TYPE_CHECKING:
    from tidegate.config.models import Project
    from tidegate.warehouse.base import Warehouse

__all__ = [
    "BATCH_ROWS",
    "Engine",
    "ErrorKind",
    "WorkRelation",
    "connect",
    "engine",
    "local",
    "local_errors",
]


def connect(root: Path, memory_limit: str = "1GB") -> Engine:
    """The default engine of a project: in-process DuckDB, spilling under ``root``."""
    from tidegate.compute.duckdb import connect as duckdb_connect

    return duckdb_connect(root, memory_limit)


def local() -> Engine:
    """A throwaway in-process engine, for a quick look at a file or an expression."""
    from tidegate.compute.duckdb import connect as duckdb_connect

    return duckdb_connect()


def local_errors() -> tuple[type[BaseException], ...]:
    """What ``local()`` engines raise of their own."""
    from tidegate.compute.duckdb import DuckDBEngine

    return DuckDBEngine.ERRORS


def engine(wh: Warehouse, project: Project) -> Engine:
    """The compute engine of a project: the warehouse's own (embedded DuckDB) or a new one,
    both under the project's ``memory_limit``. Run and replay both take it from here."""
    limit = project.config.memory_limit
    return wh.engine(limit) or connect(project.root, limit)
