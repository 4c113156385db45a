"""``tidegate export dbt``: a dbt ``sources.yml`` for the targets, with tests from the rules.

A dbt project downstream starts from what tidegate already knows: each target is a table
of the source ``tidegate`` (schema ``core``), with its columns, types and descriptions, and
dbt tests derived from the contract:

    required: true           not_null
    key                      unique (of the current rows, for scd2; a composite key is
                             tested as one expression)
    allowed: [...]           accepted_values
    references               relationships (single-column references)

Rows that break a rule never reach the table (they wait in quarantine), so these tests pass
on a table tidegate loaded; they are there for what dbt builds on top and for documentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from tidegate.config.models import ColumnSpec, Project, TargetConfig
from tidegate.sql import col

SOURCE = "tidegate"
LINEAGE = {
    "_file_id": "The ledger's id of the file this row came from (tidegate.files.file_id).",
    "_row": "The row's number in that file.",
    "_loaded_at": "When tidegate committed the row (UTC).",
}


def sources_yml(project: Project, dialect: str = "duckdb") -> dict[str, Any]:
    """The ``sources.yml`` document, as a mapping."""
    core = project.config.warehouse.schemas.core
    tables = [_table(name, t, project, dialect) for name, t in sorted(project.targets.items())]
    return {
        "version": 2,
        "sources": [
            {
                "name": SOURCE,
                "schema": core,
                "description": f"Tables loaded by tidegate from the project {project.root.name}.",
                "tables": tables,
            }
        ],
    }


def write(project: Project, out: Path, dialect: str = "duckdb") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(sources_yml(project, dialect), sort_keys=False, allow_unicode=True)
    out.write_text(_HEADER + text, encoding="utf-8")
    return out


_HEADER = "# Written by `tidegate export dbt`; run it again after a target changes.\n"


def _current(target: TargetConfig) -> str | None:
    """The condition of the current rows, for targets that keep several versions of a key."""
    if target.load != "scd2":
        return None
    return col(target.history.columns.is_current).sql("duckdb")


def _config(where: str | None) -> dict[str, Any]:
    return {"config": {"where": where}} if where else {}


def _table(name: str, target: TargetConfig, project: Project, dialect: str) -> dict[str, Any]:
    where = _current(target)
    table: dict[str, Any] = {
        "name": name,
        "description": f"Target {name} ({target.load}); contract in targets/{name}.yml.",
        "meta": {"tidegate": {"load": target.load, "key": list(target.key)}},
        "columns": [_column(c, name, target, project, where) for c in target.columns],
    }
    table["columns"] += [{"name": n, "description": d} for n, d in LINEAGE.items()]
    table["columns"] += _history_columns(target)
    if len(target.key) > 1:
        key = exp.Concat(expressions=[exp.cast(col(k), "varchar") for k in target.key])
        table["data_tests"] = [
            {"unique": {"arguments": {"column_name": key.sql(dialect)}, **_config(where)}}
        ]
    return table


def _column(
    column: str, table: str, target: TargetConfig, project: Project, where: str | None
) -> dict[str, Any]:
    spec = target.columns[column]
    tests: list[Any] = []
    if spec.required or column in target.key:
        tests.append("not_null")
    if target.key == [column]:
        tests.append({"unique": _config(where)} if where else "unique")
    if spec.allowed and not spec.pii:
        tests.append({"accepted_values": {"arguments": {"values": list(spec.allowed)}}})
    tests += _relationships(column, target, project)
    out: dict[str, Any] = {"name": column, "data_type": spec.type}
    out["description"] = spec.description or _describe(column, spec)
    if tests:
        out["data_tests"] = tests
    return out


def _describe(column: str, spec: ColumnSpec) -> str:
    """The column's contract in words, where its YAML gives no description."""
    rules = [spec.type] + ["required"] * spec.required
    rules += [f"{name} {value}" for name, value in _rules(spec) if value is not None]
    if spec.pii:
        rules.append(f"personal data, stored with pii: {spec.pii}")
    return f"{column}: {'; '.join(rules)}"


def _rules(spec: ColumnSpec) -> list[tuple[str, Any]]:
    return [
        ("pattern", spec.pattern),
        ("one of", spec.allowed),
        ("at least", spec.min),
        ("at most", spec.max),
        ("check", spec.check),
    ]


def _relationships(column: str, target: TargetConfig, project: Project) -> list[dict[str, Any]]:
    out = []
    for ref in target.references:
        if ref.columns != [column]:
            continue  # dbt's relationships test compares one column
        field = (ref.target_columns or project.targets[ref.target].key or [column])[0]
        arguments = {"to": f"source('{SOURCE}', '{ref.target}')", "field": field}
        out.append({"relationships": {"arguments": arguments}})
    return out


def _history_columns(target: TargetConfig) -> list[dict[str, str]]:
    if target.load not in ("merge", "scd2"):
        return []
    names = target.history.columns
    described = {names.row_hash: "Hash of the tracked columns: a change opens a version."}
    if target.load == "scd2":
        described |= {
            names.valid_from: "When this version took effect.",
            names.valid_to: "When it was superseded (empty while current).",
            names.is_current: "True for the version in force now.",
            names.is_deleted: "True when the version ended because its key left a snapshot.",
        }
    return [{"name": n, "description": d} for n, d in described.items()]
