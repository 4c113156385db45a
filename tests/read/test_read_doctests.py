"""The runnable examples in the reading room's docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "tidegate.read",
    "tidegate.read.names",
    "tidegate.read.tables",
    "tidegate.read.excel",
    "tidegate.read.newlines",
    "tidegate.read.failures",
    "tidegate.read.json",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
