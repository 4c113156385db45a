"""Column names from a header: never blank, never repeated, stable from run to run.

>>> column_names(["id", "", "Name", "name", None, "_row"])
['id', 'column_2', 'Name', 'name_2', 'column_5', '_row_2']
"""

from __future__ import annotations

from collections.abc import Sequence

from tidegate.read.result import ROW


def column_names(header: Sequence[str | None]) -> list[str]:
    """Blank names become ``column_<n>`` (1-based position); repeats get ``_2``, ``_3``...

    Repeats are found case-insensitively because DuckDB identifiers are, and ``_row`` is
    taken by the row number.
    """
    taken = {ROW.casefold()}
    names: list[str] = []
    for position, raw in enumerate(header, start=1):
        base = raw if raw is not None and raw.strip() else f"column_{position}"
        name = _free(base, taken)
        taken.add(name.casefold())
        names.append(name)
    return names


def _free(base: str, taken: set[str]) -> str:
    if base.casefold() not in taken:
        return base
    suffix = 2
    while f"{base}_{suffix}".casefold() in taken:
        suffix += 1
    return f"{base}_{suffix}"
