"""tidegate: load files of every shape into a data warehouse exactly once."""

from tidegate.errors import (
    ConfigError,
    ConnectionFailed,
    FileError,
    TidegateError,
    TransientError,
    WarehouseError,
)

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


def load_project(root: object) -> object:
    """Load a project folder (see ``tidegate.config.load_project``)."""
    from pathlib import Path

    from tidegate.config import load_project as _load

    return _load(Path(str(root)))


def run(root: object) -> object:
    """Run a project once (see ``tidegate.pipeline.run``)."""
    from tidegate.pipeline import run as _run

    return _run(load_project(root))  # type: ignore[arg-type]
