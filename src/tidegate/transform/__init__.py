"""Mapping and validation: file records to typed target rows, good and quarantined.

``evaluate`` and ``Outcome`` are loaded on first use: the configuration imports
``transform.mapping`` to read a source's columns, and must not pull in the compute engine
(duckdb, pyarrow) with it, or every command would start slowly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidegate.transform.evaluate import Outcome, evaluate

__all__ = ["Outcome", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        found = getattr(importlib.import_module("tidegate.transform.evaluate"), name)
        globals()[name] = found  # the function, not the submodule of the same name
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
