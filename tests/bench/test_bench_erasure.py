"""The erasure cost case runs end to end on a tiny warehouse (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_erasure_case_measures_both_steps(tmp_path: Path) -> None:
    results = tmp_path / "erasure.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench.erasure", "--rows", "300", "--warehouse", "duckdb",
         "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    [result] = [json.loads(line) for line in results.read_text().splitlines()]
    assert (result["warehouse"], result["rows"]) == ("duckdb", 300)
    assert all(result[k] > 0 for k in ("erase_seconds", "rewrite_seconds", "idle_run_seconds"))
    assert "| duckdb | 300 |" in done.stdout
