"""``tidegate export dbt``: a sources.yml that dbt parses, and whose tests pass on the tables.

dbt runs in a virtual environment of its own (``.cache/dbt-venv``, made on first use):
dbt-common pins a pathspec older than the one the project's type checker needs. Under
``CI=true`` a dbt that cannot be installed fails the test instead of skipping it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml
from tests.conftest import unavailable
from tests.pipeline.conftest import tidegate

# One pytest-xdist worker runs this module: it shares the module's loaded project.
pytestmark = pytest.mark.xdist_group("dbt")

REPO = Path(__file__).resolve().parents[2]
DBT_VENV = REPO / ".cache" / "dbt-venv"
DBT = ["dbt-core>=1.10,<1.12", "dbt-duckdb>=1.9"]  # dbt-duckdb needs a dbt-core before 1.12


def _unavailable(reason: str) -> None:
    unavailable("dbt", reason)


@pytest.fixture(scope="session")
def dbt() -> Path:
    """The dbt executable; the virtual environment is made under a file lock, since every
    test worker (pytest-xdist) asks for it at once on a fresh checkout."""
    DBT_VENV.parent.mkdir(parents=True, exist_ok=True)
    with (DBT_VENV.parent / "dbt-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _installed_dbt()


def _installed_dbt() -> Path:
    executable = DBT_VENV / "bin" / "dbt"
    if not executable.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(DBT_VENV)], check=False)
        pip = DBT_VENV / "bin" / "pip"
        installed = made.returncode == 0 and (
            subprocess.run([str(pip), "install", "--quiet", *DBT], check=False).returncode == 0
        )
        if not installed:
            _unavailable(f"pip could not install {DBT} into {DBT_VENV}")
    return executable


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Example 003 (cars, customers, subscriptions), loaded into DuckDB."""
    root = tmp_path_factory.mktemp("dbt") / "cars"
    assert tidegate(None, "init", str(root), "--example", "003").returncode == 0
    done = tidegate(root, "run")
    assert done.returncode == 0, done.stderr
    return root


def _dbt_project(root: Path, warehouse: Path) -> Path:
    project = root / "analytics"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: analytics\nversion: '1.0'\nprofile: analytics\nconfig-version: 2\n"
    )
    (project / "profiles.yml").write_text(
        textwrap.dedent(f"""\
            analytics:
              target: dev
              outputs:
                dev: {{type: duckdb, path: "{warehouse}"}}
            """)
    )
    (project / "models" / "active_cars.sql").write_text(
        "select * from {{ source('tidegate', 'cars') }} where \"_is_current\"\n"
    )
    return project


def _run_dbt(dbt: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(dbt), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        timeout=600,
        check=False,
    )


def test_export_is_read_by_dbt_and_its_tests_pass(loaded: Path, dbt: Path) -> None:
    project = _dbt_project(loaded, loaded / "warehouse.duckdb")
    sources = project / "models" / "sources.yml"
    done = tidegate(loaded, "export", "dbt", "--out", str(sources))
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(sources.read_text())
    tables = {t["name"]: t for t in document["sources"][0]["tables"]}
    assert set(tables) == {"cars", "customers", "subscriptions"}

    parsed = _run_dbt(dbt, project, "parse")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    tested = _run_dbt(dbt, project, "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    summary = next(line for line in tested.stdout.splitlines() if "PASS=" in line)
    counts = dict(part.split("=") for part in summary.split("Done.")[1].split())
    assert counts["ERROR"] == counts["WARN"] == "0", tested.stdout
    assert int(counts["PASS"]) == int(counts["TOTAL"]) == _expected_tests(document)

    # The tests are real: a row that breaks the contract, written behind tidegate's back, fails.
    with duckdb.connect(str(loaded / "warehouse.duckdb")) as con:
        con.execute(
            "UPDATE core.cars SET engine_type = 'steam' WHERE id = (SELECT min(id) FROM core.cars)"
        )
    broken = _run_dbt(dbt, project, "test", "--select", "source:tidegate.cars")
    assert broken.returncode != 0
    assert "accepted_values_" in broken.stdout and "steam" not in broken.stdout


def _expected_tests(document: dict[str, object]) -> int:
    tables = document["sources"][0]["tables"]  # type: ignore[index]
    count = 0
    for table in tables:
        count += len(table.get("data_tests", []))
        count += sum(len(c.get("data_tests", [])) for c in table["columns"])
    return count


def test_the_export_derives_tests_from_the_rules(loaded: Path) -> None:
    out = loaded / "sources.yml"
    assert tidegate(loaded, "export", "dbt", "--out", str(out)).returncode == 0
    tables = {t["name"]: t for t in yaml.safe_load(out.read_text())["sources"][0]["tables"]}
    cars = {c["name"]: c for c in tables["cars"]["columns"]}
    assert "not_null" in cars["vin"]["data_tests"]  # required: true
    assert {"unique": {"config": {"where": '"_is_current"'}}} in cars["id"]["data_tests"]
    accepted = next(t for t in cars["engine_type"]["data_tests"] if "accepted_values" in t)
    assert set(accepted["accepted_values"]["arguments"]["values"]) >= {"electric", "petrol"}
    subscriptions = {c["name"]: c for c in tables["subscriptions"]["columns"]}
    relationships = [
        t
        for c in subscriptions.values()
        for t in c.get("data_tests", [])
        if isinstance(t, dict) and "relationships" in t
    ]
    assert relationships, "references become relationships tests"
