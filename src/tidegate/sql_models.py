"""SQL models: ``models/<name>.sql`` becomes the view ``marts.<name>`` after every run
(a table on SQLite, whose views cannot read another schema's tables).

Models are written in DuckDB's dialect, like mappings, and transpiled to the warehouse's.
A model may read another; they are created in dependency order.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tidegate.config.models import Project
from tidegate.errors import ConfigError
from tidegate.sql import COMPUTE_DIALECT, table
from tidegate.warehouse.base import Warehouse


def parse_model(name: str, sql: str) -> exp.Query:
    try:
        tree = sqlglot.parse_one(sql, read=COMPUTE_DIALECT)
    except ParseError as exc:
        raise ConfigError(f"models/{name}.sql", f"invalid SQL: {exc}") from exc
    if not isinstance(tree, exp.Query):
        raise ConfigError(f"models/{name}.sql", "a model is one SELECT query")
    return tree


def build_order(models: dict[str, exp.Query]) -> list[str]:
    """Models that others read come first; a cycle is a configuration error."""
    reads = {
        name: {t.name for t in tree.find_all(exp.Table)} & (set(models) - {name})
        for name, tree in models.items()
    }
    order: list[str] = []
    while len(order) < len(models):
        ready = sorted(n for n in models if n not in order and reads[n] <= set(order))
        if not ready:
            stuck = sorted(set(models) - set(order))
            raise ConfigError("models", f"models read each other in a cycle: {stuck}")
        order += ready
    return order


def build_models(wh: Warehouse, project: Project) -> list[str]:
    """Create or replace every model's view whose tables exist; returns their names in build
    order (a model over a target that no file has created yet waits for a later run)."""
    if not project.models:
        return []
    trees = {name: parse_model(name, sql) for name, sql in project.models.items()}
    schema = wh.schemas.models
    wh.ensure_schema(schema)
    order = build_order(trees)
    built: list[str] = []
    for name in order:
        if not _inputs_exist(wh, trees[name], set(trees), built):
            continue  # reads a table that does not exist (yet)
        built.append(name)
        for statement in model_statements(wh, table(name, schema), trees[name]):
            wh.execute(statement)
    return built


def model_statements(wh: Warehouse, name: exp.Table, query: exp.Query) -> list[exp.Expression]:
    """``CREATE OR REPLACE VIEW``; where views cannot read another schema (SQLite), the
    model is a table made again after every run."""
    if not wh.MODELS_AS_TABLES:
        return [exp.Create(this=name, kind="VIEW", replace=True, expression=query)]
    return [
        exp.Drop(tables=[name.copy()], kind="TABLE", exists=True),
        exp.Create(this=name, kind="TABLE", expression=query),
    ]


def _inputs_exist(wh: Warehouse, tree: exp.Query, models: set[str], built: list[str]) -> bool:
    """Every table the model reads exists: a model built now, or a table in the warehouse."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for read in tree.find_all(exp.Table):
        if read.name in ctes:
            continue
        if read.name in models and not read.db:
            if read.name not in built:
                return False
            continue
        schema = read.db or wh.schemas.core
        if wh.columns_of(read.name, schema) is None:
            return False
    return True
