"""The control store: where the ledger lives when the warehouse has no transactions.

Plain Spark tables (Parquet, Hive) commit each write on its own, so a file's rows and its
ledger row cannot commit together. The ledger, the runs and the quarantine index then live
in a store that has transactions, ``warehouse.control``: a DuckDB file (a path, relative to
the project) or a PostgreSQL server (a ``postgresql://`` URL, for several drivers at once).
It is an ordinary tidegate warehouse of that type, so the ledger code is the one every
warehouse uses; only the data goes elsewhere.

The order that makes a file exactly once without a shared transaction: the file's rows are
written idempotently first (a rerun overwrites them, see ``warehouse/spark.py``), then its
ledger row commits in the control store. A crash between the two leaves rows without a
ledger row; the rerun finds no ledger row, loads the file again, and overwrites them.

>>> control_config(WarehouseConfig(type="spark")).path
'tidegate-control.duckdb'
>>> control_config(WarehouseConfig(type="spark", control="postgresql://u@h/db")).type
'postgres'
"""

from __future__ import annotations

from pathlib import Path

from tidegate.config.models import WarehouseConfig
from tidegate.warehouse.base import Warehouse

DEFAULT_CONTROL = "tidegate-control.duckdb"
SERVER_SCHEMES = ("postgresql://", "postgres://")


def control_config(config: WarehouseConfig) -> WarehouseConfig:
    """The control store of a warehouse as a warehouse of its own, with the same schema
    names (the ledger's ``tidegate`` schema)."""
    given = config.control or DEFAULT_CONTROL
    if given.startswith(SERVER_SCHEMES):
        return WarehouseConfig(type="postgres", url=given, schemas=config.schemas)
    return WarehouseConfig(type="duckdb", path=given, schemas=config.schemas)


def open_control(config: WarehouseConfig, root: Path) -> Warehouse:
    """The control store's adapter, not yet connected (``with open_control(...) as store``)."""
    from tidegate.warehouse import adapter_class

    settings = control_config(config)
    return adapter_class(settings.type)(settings, root)
