"""Configuration: the pydantic models of a project's files and the loader that reads them."""

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
