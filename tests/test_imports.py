"""A command starts without the engines: the heavy modules are imported where needed.

Module sets, not timings: what ``import tidegate.cli`` (every command, ``--help``) and
``import tidegate.log`` (every command that reads a project) leave in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("duckdb", "pyarrow", "sqlglot", "httpx", "dagster", "psycopg")


def _imported(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", ["tidegate.cli", "tidegate.log", "tidegate.config"])
def test_importing_does_not_load_an_engine(module: str) -> None:
    assert _imported(module) & set(HEAVY) == set()
