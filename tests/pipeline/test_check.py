"""``tidegate check`` finds what ``run`` would fail on, before any file arrives: every
mapping, rule and model is bound against the declared types (no data moves), and each
problem is reported at its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from sqlglot import exp

from tidegate.warehouse.evolve import widens

from ..examples.test_example_004 import EXAMPLE, KEYS
from .conftest import PEOPLE_SOURCE, PEOPLE_TARGET, tidegate, write_project

EVENTS_SOURCE = """\
match: "events*.jsonl"
format: jsonl
outputs:
  - target: people
    unnest: items
    unnest_as: item
    columns:
      id: "item->>'id'"
      name: "item->>'name'"
"""

MODEL = "SELECT id, nickname FROM core.people\n"


def lines(text: str) -> str:
    return " ".join(text.split())


def test_check_binds_mappings_rules_and_models(tmp_path: Path) -> None:
    source = PEOPLE_SOURCE.replace('lower("E-mail")', 'lowerr("E-mail")')
    target = PEOPLE_TARGET.replace(
        "email:  {type: varchar, pattern: '^[^@]+@[^@]+$'}",
        "email:  {type: varchar, check: 'length(id) > 3'}",
    )
    root = write_project(
        tmp_path / "p",
        {
            "targets/people.yml": target,
            "sources/people.yml": source,
            "sources/events.yml": EVENTS_SOURCE,
            "models/names.sql": MODEL,
        },
    )
    checked = tidegate(root, "check")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    said = lines(checked.stderr)
    assert 'sources/people.yml:7: outputs[0].columns.email `lowerr("E-mail")`' in said
    assert "lowerr does not exist" in said
    assert "sources/events.yml:5: outputs[0].unnest `items`" in said
    assert "UNNEST() can only be applied to lists" in said
    assert "targets/people.yml:4: column 'email', check `length(id) > 3`" in said
    assert "length(INTEGER)" in said
    assert 'models/names.sql: does not bind: Binder Error: Referenced column "nickname"' in said


def test_a_correct_project_checks_clean(tmp_path: Path) -> None:
    model = "SELECT count(*) AS people, min(born) AS first FROM core.people\n"
    root = write_project(tmp_path / "p", {"models/counts.sql": model})
    checked = tidegate(root, "check")
    assert checked.returncode == 0, checked.stderr
    assert "no table yet" in lines(checked.stdout)


def test_example_004_with_only_customers_files_runs(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    for part in ("targets", "sources", "models"):
        shutil.copytree(EXAMPLE / part, root / part)
    config = (EXAMPLE / "tidegate.yml").read_text()
    (root / "tidegate.yml").write_text(config.replace("settle_seconds: 1", "settle_seconds: 0"))
    for hour in ("00", "01"):
        relative = Path(f"date=2020-01-01/hour={hour}/customers.json.gz")
        (root / "landing" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLE / "landing" / relative, root / "landing" / relative)
    assert tidegate(root, "check", env=KEYS).returncode == 0
    done = tidegate(root, "run", env=KEYS)
    assert done.returncode == 0, done.stdout + done.stderr
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.revenue_by_day").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM core.transactions").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM core.customers").fetchall()[0][0] > 0


def test_widening_is_what_keeps_every_value() -> None:
    def kind(text: str) -> exp.DataType:
        return exp.DataType.build(text)

    assert widens(kind("int"), kind("bigint"))
    assert widens(kind("bigint"), kind("decimal(20,0)"))
    assert widens(kind("decimal(10,2)"), kind("decimal(12,2)"))
    assert widens(kind("decimal(10,2)"), kind("varchar"))
    assert widens(kind("varchar(10)"), kind("varchar(20)"))
    assert widens(kind("date"), kind("timestamp"))
    assert not widens(kind("bigint"), kind("int"))
    assert not widens(kind("bigint"), kind("decimal(12,2)"))
    assert not widens(kind("decimal(12,2)"), kind("decimal(12,3)"))
    assert not widens(kind("varchar(20)"), kind("varchar(10)"))
    assert not widens(kind("varchar"), kind("date"))
    assert not widens(kind("decimal(10,2)"), kind("double"))
