"""Configuration: the pydantic models of a project's files and the loader that reads them.

The names below are loaded on first use. ``tidegate.log`` needs only ``config.redact``, and
the loader imports the rooms that check a project (privacy, transform): importing the
package must not import them all, or every command starts slowly and a module that needs
one model (``transform.rules``) imports itself in a circle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidegate.config.loader import json_schema, load_project
    from tidegate.config.models import (
        ColumnMatch,
        ColumnSpec,
        HistoryConfig,
        OutputConfig,
        Project,
        ProjectConfig,
        ReadOptions,
        Reference,
        SourceConfig,
        TargetConfig,
        WarehouseConfig,
    )

_LOADER = ("json_schema", "load_project")

__all__ = [
    "ColumnMatch",
    "ColumnSpec",
    "HistoryConfig",
    "OutputConfig",
    "Project",
    "ProjectConfig",
    "ReadOptions",
    "Reference",
    "SourceConfig",
    "TargetConfig",
    "WarehouseConfig",
    "json_schema",
    "load_project",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "tidegate.config.loader" if name in _LOADER else "tidegate.config.models"
    found = getattr(importlib.import_module(module), name)
    globals()[name] = found
    return found
