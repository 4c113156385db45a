"""File columns named like tidegate's own: renamed as they are read."""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from tidegate.compute.engine import Engine
from tidegate.read import ReadResult
from tidegate.sql import col, table
from tidegate.transform.mapping import FILE, ITEM, REASONS, ROW
from tidegate.warehouse.load import FILE_ID, LOADED_AT

# Columns tidegate adds beside a file's own: a file column of the same name is renamed.
RESERVED = (ROW, FILE, FILE_ID, LOADED_AT, ITEM, REASONS)


def _free_name(name: str, taken: set[str]) -> str:
    suffix = 2
    while f"{name}_{suffix}".casefold() in taken:
        suffix += 1
    return f"{name}_{suffix}"


def reserved_renames(columns: list[str]) -> dict[str, str]:
    """``{file column: new name}`` for columns named like tidegate's own (``_file_id``),
    case-insensitively; each gets ``_2`` (or the next free number), as a repeated header
    name does.

    >>> reserved_renames(["id", "_file_id", "_Loaded_At", "_file_id_2"])
    {'_file_id': '_file_id_3', '_Loaded_At': '_Loaded_At_2'}
    """
    reserved = {name.casefold() for name in RESERVED}
    taken = {c.casefold() for c in columns} | reserved
    renames: dict[str, str] = {}
    for name in columns:
        if name.casefold() in reserved:
            renames[name] = _free_name(name, taken)
            taken.add(renames[name].casefold())
    return renames


def rename_reserved(con: Engine, read: ReadResult) -> tuple[ReadResult, dict[str, str]]:
    """The read with reserved file column names renamed in its table, and the renames."""
    renames = reserved_renames(read.columns)
    for old, new in renames.items():
        action = exp.RenameColumn(this=col(old), to=col(new))
        con.execute(exp.Alter(this=table(read.table), kind="TABLE", actions=[action]))
    if not renames:
        return read, {}
    return replace(read, columns=[renames.get(c, c) for c in read.columns]), renames
