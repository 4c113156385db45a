"""``tidegate check`` on ``type: spark``: an expression without a Spark form is a check error
naming its YAML file and line, before any data moves (no Spark needed to find it)."""

from __future__ import annotations

from pathlib import Path

from tidegate.bind import bind_problems
from tidegate.config import load_project

TARGET = """\
columns:
  id:    {type: integer, required: true}
  name:  {type: varchar}
  seen:  {type: date, formats: ['%d/%m/%Y']}
"""

SOURCE = """\
match: "people*.csv"
derive:
  parts: string_split(name, ' ')
outputs:
  - target: people
    columns:
      id: id
      name: regexp_replace(name, 'a', 'b', 'gs')
      seen: parts[1:2]
"""


def project(root: Path, warehouse: str) -> Path:
    (root / "targets").mkdir(parents=True)
    (root / "sources").mkdir()
    (root / "tidegate.yml").write_text(f"warehouse:\n{warehouse}")
    (root / "targets" / "people.yml").write_text(TARGET)
    (root / "sources" / "people.yml").write_text(SOURCE)
    return root


def test_expressions_without_a_spark_form_are_named_with_their_line(tmp_path: Path) -> None:
    root = project(tmp_path, "  type: spark\n  master: local[1]\n")

    problems = bind_problems(load_project(root))

    assert problems == [
        "sources/people.yml:8: outputs[0].columns.name `regexp_replace(name, 'a', 'b', 'gs')`"
        " has no Spark form: regexp_replace option 'gs' has no Spark form (g, i do)",
        "sources/people.yml:9: outputs[0].columns.seen `parts[1:2]` has no Spark form:"
        " a list slice or a multi-key subscript has no Spark form",
    ]


def test_the_same_project_on_duckdb_has_no_spark_problems(tmp_path: Path) -> None:
    root = project(tmp_path, "  type: duckdb\n")

    problems = bind_problems(load_project(root))

    assert not any("Spark" in p for p in problems)
