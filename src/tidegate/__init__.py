"""tidegate: load files of every shape into a data warehouse exactly once.

>>> import tidegate
>>> project = tidegate.load_project("myproject")   # doctest: +SKIP
>>> result = tidegate.run(project)                 # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.errors import (
    ConfigError,
    ConnectionFailed,
    FileError,
    TidegateError,
    TransientError,
    WarehouseError,
)

if TYPE_CHECKING:
    from tidegate.config.models import Project
    from tidegate.results import RunResult

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConnectionFailed",
    "FileError",
    "TidegateError",
    "TransientError",
    "WarehouseError",
    "__version__",
    "load_project",
    "run",
]


def load_project(root: str | Path) -> Project:
    """Read and validate the project in ``root`` (raises ``ConfigError``)."""
    from tidegate.config import load_project as load

    return load(Path(root))


def run(project: Project | str | Path) -> RunResult:
    """Process every ready file of the project's landing folder, once."""
    from tidegate.idle import run as run_pipeline

    loaded = project if not isinstance(project, str | Path) else load_project(project)
    return run_pipeline(loaded)
