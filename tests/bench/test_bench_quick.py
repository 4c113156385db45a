"""The benchmark harness runs end to end on tiny data sets.

No timing is asserted (timings belong in docs/benchmarks.md): the run must complete, and
every measured step must report the rows its files hold, with tidegate's counts reconciled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.scenarios import BUILDERS
from bench.sizes import TINY

# One pytest-xdist worker runs this module: it shares bench/.data, written by every harness run.
pytestmark = pytest.mark.xdist_group("bench")

REPO = Path(__file__).resolve().parents[2]
CASES = ("wide_csv", "churn_scd2_snapshot", "small_files", "nested_jsonl")
APPEND_CASES = ("wide_csv", "small_files", "nested_jsonl")


def harness(
    results: Path, *args: str, postgres: str = "none", failed_steps: bool = False
) -> dict[str, Any]:
    """Run ``python -m bench`` on tiny data sets; its results and printed report (a failed
    step fails the run unless ``failed_steps``: the caller looks at the results)."""
    env = {k: v for k, v in os.environ.items() if k != "TIDEGATE_BENCH_POSTGRES_URL"}
    env["TIDEGATE_BENCH_SLING_TIMEOUT"] = "120"  # a tiny step of Sling takes seconds
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", *args,
         "--results", str(results), "--no-doc", "--postgres", postgres],
        cwd=REPO, capture_output=True, text=True, timeout=1200, env=env,
    )  # fmt: skip
    assert done.returncode == 0 or (failed_steps and results.exists()), done.stderr[-4000:]
    data: dict[str, Any] = json.loads(results.read_text())
    data["markdown"] = done.stdout
    return data


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case with the floor and tidegate (dlt's steps take seconds each: see below)."""
    pytest.importorskip("psutil")
    results = tmp_path_factory.mktemp("bench") / "results.json"
    return harness(results, "--only", ",".join(CASES), "--tools", "floor,tidegate")


def test_dlt_runs_the_scd2_churn(tmp_path: Path) -> None:
    pytest.importorskip("dlt")
    pytest.importorskip("pandas")
    pytest.importorskip("psutil")
    data = harness(tmp_path / "results.json", "--only", "churn_scd2_snapshot", "--tools", "dlt")
    steps = {r["step"]: r for r in data["results"] if r["tool"] == "dlt/duckdb"}
    assert steps["initial"]["status"] == steps["change"]["status"] == "ok", steps
    assert steps["initial"]["rows"] > steps["change"]["rows"] * 0.9 > 0


def test_the_long_lived_tidegate_runs_both_churn_steps(tmp_path: Path) -> None:
    """tidegate-resident: the project loaded once in a process that stays up, each step a run
    in it, measured inside that process."""
    pytest.importorskip("psutil")
    data = harness(
        tmp_path / "results.json", "--only", "churn_scd2_delta", "--tools", "tidegate-resident"
    )
    steps = {r["step"]: r for r in data["results"] if r["tool"] == "tidegate-resident/duckdb"}
    assert set(steps) == {"initial", "change"}, data["results"]
    for step in steps.values():
        assert step["status"] == "ok", step
        assert step["seconds"] > 0 and step["cpu_seconds"] > 0, step
        assert step["peak_rss"] > 10 * 2**20, step  # the serving process, DuckDB loaded
        detail = step["detail"]
        parts = ("rows_loaded", "rows_unchanged", "rows_quarantined", "rows_duplicate")
        assert step["rows"] == detail["rows_read"] == sum(detail[p] for p in parts) > 0, step
    assert steps["initial"]["rows"] > steps["change"]["rows"]


# Sling (bench/sling.py): its binaries come from PyPI into a folder of their own on first use.
SLING_CASES = (
    "wide_csv",
    "churn_merge_delta",
    "churn_scd2_snapshot",
    "small_files",
    "nested_jsonl",
)
SLING_TRIES = 3


@pytest.fixture(scope="module")
def sling_run(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> dict[str, Any]:
    """Sling on every case it can do, into DuckDB and PostgreSQL."""
    pytest.importorskip("psutil")
    install = [sys.executable, "-m", "bench.sling", "install"]
    subprocess.run(install, cwd=REPO, check=True, timeout=900)
    folder = tmp_path_factory.mktemp("sling")
    cases = ",".join(SLING_CASES)
    data = harness(folder / "results.json", "--only", cases, "--tools", "sling",
                   postgres=postgres_url, failed_steps=True)  # fmt: skip
    # Sling's DuckDB driver runs a DuckDB CLI process per statement: on a busy machine one
    # now and then trips over the previous one's lock ("Could not set lock on file"), or
    # waits on its CLI for ever (stopped after TIDEGATE_BENCH_SLING_TIMEOUT). Those are
    # Sling's races, not the data's, so a case on DuckDB that failed runs again, at most
    # SLING_TRIES times in all; a case that fails every time fails the test with its note.
    for attempt in range(2, SLING_TRIES + 1):
        raced = sorted({r["scenario"] for r in data["results"] if _raced(r)})
        if not raced:
            break
        again = harness(folder / f"again-{attempt}.json", "--only", ",".join(raced),
                        "--tools", "sling", postgres=postgres_url,
                        failed_steps=True)  # fmt: skip
        kept = [r for r in data["results"] if r["scenario"] not in raced]
        data["results"] = [*kept, *again["results"]]
    return data


def _raced(result: dict[str, Any]) -> bool:
    return result["tool"] == "sling/duckdb" and result["status"] == "failed"


def expected_rows(case: str) -> dict[str, int]:
    """The records of each step's files, as the harness counts them."""
    scenario = BUILDERS[case](TINY)
    assert scenario is not None
    return {step.name: step.rows for step in scenario.steps}


def test_sling_loads_every_record_of_every_case_it_has_a_mode_for(
    sling_run: dict[str, Any],
) -> None:
    for case in ("wide_csv", "churn_merge_delta", "small_files", "nested_jsonl"):
        for warehouse in ("duckdb", "postgres"):
            steps = {r["step"]: r for r in results_of(sling_run, case, f"sling/{warehouse}")}
            assert {step: r["status"] for step, r in steps.items()} == dict.fromkeys(
                expected_rows(case), "ok"
            ), {step: (r["status"], r["note"]) for step, r in steps.items()}
            assert {step: r["rows"] for step, r in steps.items()} == expected_rows(case)
            assert all(r["seconds"] > 0 and r["peak_rss"] > 0 for r in steps.values())


def test_sling_skips_scd2_and_says_why(sling_run: dict[str, Any]) -> None:
    for warehouse in ("duckdb", "postgres"):
        steps = results_of(sling_run, "churn_scd2_snapshot", f"sling/{warehouse}")
        assert [r["status"] for r in steps] == ["skipped", "skipped"], steps
        assert all("Sling has no scd2 mode" in r["note"] for r in steps)


def results_of(run: dict[str, Any], case: str, tool: str) -> list[dict[str, Any]]:
    return [r for r in run["results"] if r["scenario"] == case and r["tool"] == tool]


def test_every_case_ran_the_floor_and_tidegate(run: dict[str, Any]) -> None:
    assert set(run["meta"]["titles"]) == set(CASES)
    for case in CASES:
        assert results_of(run, case, "floor/duckdb"), case
        assert results_of(run, case, "tidegate/duckdb"), case


def test_append_cases_load_every_row(run: dict[str, Any]) -> None:
    for case in APPEND_CASES:
        floor = results_of(run, case, "floor/duckdb")[0]
        tidegate = results_of(run, case, "tidegate/duckdb")[0]
        assert floor["status"] == tidegate["status"] == "ok", (floor, tidegate)
        assert tidegate["rows"] == floor["rows"] > 0


def measured(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The results on DuckDB: the harness is told not to use PostgreSQL (``--postgres none``),
    so those are skipped, and only those."""
    skipped = [r for r in run["results"] if r["tool"].endswith("/postgres")]
    assert all(r["status"] == "skipped" for r in skipped), skipped
    return [r for r in run["results"] if not r["tool"].endswith("/postgres")]


def test_every_case_completed(run: dict[str, Any]) -> None:
    """A case that failed or was skipped (with a note) is a failed smoke test."""
    assert measured(run)
    for result in measured(run):
        assert result["status"] == "ok", result


def test_measurements_are_sane(run: dict[str, Any]) -> None:
    for result in measured(run):
        assert result["status"] == "ok", result
        assert result["seconds"] > 0
        assert result["peak_rss"] > 10 * 2**20  # a Python process with DuckDB loaded
        assert result["rows"] > 0


def test_tidegate_counts_reconcile(run: dict[str, Any]) -> None:
    for result in measured(run):
        detail = result["detail"]
        if result["tool"].startswith("tidegate/"):
            assert result["status"] == "ok", result
            parts = ("rows_loaded", "rows_unchanged", "rows_quarantined", "rows_duplicate")
            assert detail["rows_read"] == sum(detail[p] for p in parts), result


def test_the_report_has_a_table_per_case_and_the_targets(run: dict[str, Any]) -> None:
    markdown = run["markdown"]
    for title in run["meta"]["titles"].values():
        assert f"#### {title}" in markdown
    assert "#### Targets (issue 15)" in markdown


# The erasure cost case (bench/erasure.py), end to end on a tiny warehouse.
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


def test_the_spark_cases_load_every_row_beside_duckdb(tmp_path: Path) -> None:
    """Spark's cases (bench/spark.py) beside DuckDB: every record of the wide CSV reconciled
    on local[2] (a Spark that cannot run fails). Each Spark step of the harness starts a
    JVM of its own, a minute or more on a busy 2-core machine even at this size, so the
    smoke run takes one master (local[1] is the Spark tests' own, tests/spark) and one
    case: every Spark case is its DuckDB case passed through one helper (``_on_spark``),
    and the small files' loads on Spark are tests/spark/test_load.py's."""
    pytest.importorskip("psutil")
    cases = ("spark_wide_csv",)
    tools = "tidegate/duckdb,tidegate/spark-2"
    data = harness(tmp_path / "results.json", "--only", ",".join(cases), "--tools", tools)
    for case in cases:
        found = {r["tool"]: r for r in data["results"] if r["scenario"] == case}
        assert set(found) == {"tidegate/duckdb", "tidegate/spark-2"}
        assert {r["status"] for r in found.values()} == {"ok"}, found
        rows = {r["rows"] for r in found.values()}
        assert len(rows) == 1 and rows.pop() > 0, found
