"""Warehouse adapters: one module per warehouse, chosen by ``warehouse.type``.

Heavy drivers are imported inside the adapter that needs them, so a DuckDB user never
pays for psycopg or pyodbc.
"""

from __future__ import annotations

import importlib

from tidegate.config.models import Project
from tidegate.errors import ConfigError
from tidegate.warehouse.base import Warehouse

ADAPTERS = {
    "duckdb": "tidegate.warehouse.duckdb:DuckDBWarehouse",
    "postgres": "tidegate.warehouse.postgres:PostgresWarehouse",
    "sqlite": "tidegate.warehouse.sqlite:SQLiteWarehouse",
    "mssql": "tidegate.warehouse.mssql:MSSQLWarehouse",
    "spark": "tidegate.warehouse.spark:SparkWarehouse",
}

# The optional dependency that brings each adapter's driver, for the message when it is missing.
EXTRAS = {"postgres": "postgres", "mssql": "mssql", "spark": "spark"}


def adapter_class(kind: str) -> type[Warehouse]:
    try:
        module_name, _, class_name = ADAPTERS[kind].partition(":")
    except KeyError:
        raise ConfigError(
            "tidegate.yml",
            f"warehouse type {kind!r} is not available; use one of {sorted(ADAPTERS)}",
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("tidegate"):
            raise
        raise ConfigError(
            "tidegate.yml",
            f"warehouse type {kind!r} needs the {exc.name!r} package: "
            f"pip install 'tidegate[{EXTRAS.get(kind, kind)}]'",
        ) from exc
    cls: type[Warehouse] = getattr(module, class_name)
    return cls


def connect(project: Project) -> Warehouse:
    """An adapter for the project's warehouse, ready to be entered (``with connect(p) as wh``).

    The adapter says which ``warehouse:`` settings it needs and reads
    (``Warehouse.settings_problem``); asked here, not when the project is read, so that
    reading a project never imports a warehouse's driver.
    """
    config = project.config.warehouse
    adapter = adapter_class(config.type)
    problem = adapter.settings_problem(config)
    if problem is not None:
        raise ConfigError(project.root / "tidegate.yml", f"warehouse: {problem}")
    return adapter(config, project.root)


__all__ = ["Warehouse", "adapter_class", "connect"]
