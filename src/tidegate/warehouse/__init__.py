"""Warehouse adapters: one module per warehouse, chosen by ``warehouse.type``.

Heavy drivers are imported inside the adapter that needs them, so a DuckDB user never
pays for psycopg or pyspark.
"""

from __future__ import annotations

import importlib

from tidegate.config.models import Project
from tidegate.errors import ConfigError
from tidegate.warehouse.base import Warehouse

ADAPTERS = {
    "duckdb": "tidegate.warehouse.duckdb:DuckDBWarehouse",
}


def adapter_class(kind: str) -> type[Warehouse]:
    try:
        module_name, _, class_name = ADAPTERS[kind].partition(":")
    except KeyError:
        raise ConfigError(
            "tidegate.yml",
            f"warehouse type {kind!r} is not available; use one of {sorted(ADAPTERS)}",
        ) from None
    cls: type[Warehouse] = getattr(importlib.import_module(module_name), class_name)
    return cls


def connect(project: Project) -> Warehouse:
    """An adapter for the project's warehouse, ready to be entered (``with connect(p) as wh``)."""
    config = project.config.warehouse
    return adapter_class(config.type)(config, project.root)


__all__ = ["Warehouse", "adapter_class", "connect"]
