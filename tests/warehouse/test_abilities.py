"""The abilities an adapter declares are what the base class reads: MERGE, join indexes,
statistics on work tables. Each is used when declared and replaced when not, on every
warehouse, with the same rows in the end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlglot import exp

from tidegate.config.models import ColumnSpec, HistoryConfig, TargetConfig
from tidegate.privacy import tables as privacy_tables
from tidegate.warehouse import merge, scd2
from tidegate.warehouse.base import Row, Warehouse
from tidegate.warehouse.load import ensure_target

from .conftest import Feeder

DAY0 = datetime(2024, 1, 1)


def target(load: str, **options: Any) -> TargetConfig:
    columns = {
        "id": ColumnSpec(type="integer", required=True),
        "name": ColumnSpec(type="varchar"),
    }
    return TargetConfig(columns=columns, key=["id"], load=load, **options)


def recorded(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> list[exp.Expr]:
    """Every statement the adapter runs from now on (the real ones, run for real)."""
    seen: list[exp.Expr] = []
    run: Callable[[exp.Expr], list[Row]] = wh.execute

    def execute(expression: exp.Expr) -> list[Row]:
        seen.append(expression)
        return run(expression)

    monkeypatch.setattr(wh, "execute", execute)
    return seen


FILES = [
    [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    [{"id": 1, "name": "c"}, {"id": 2, "name": "b"}, {"id": 3, "name": None}],
    [{"id": 3, "name": "d"}],
]


def merged(feed: Feeder, name: str, t: TargetConfig) -> list[dict[str, Any]]:
    for index, rows in enumerate(FILES):
        feed.load(name, t, rows, DAY0 + timedelta(days=index))
    return feed.read(name, ["id", "name", "_file_id"], ["id"])


@pytest.mark.parametrize("effective", ["run_time", "file_mtime"], ids=["untimed", "timed"])
def test_an_upsert_is_one_merge_where_declared_else_update_then_insert(
    wh: Warehouse, feed: Feeder, monkeypatch: pytest.MonkeyPatch, effective: str
) -> None:
    t = target("merge", history=HistoryConfig(effective=effective))
    seen = recorded(wh, monkeypatch)
    declared = merged(feed, "declared", t)
    merges = [s for s in seen if isinstance(s, exp.Merge)]
    assert len(merges) == (len(FILES) if type(wh).SUPPORTS_MERGE else 0)

    seen.clear()
    monkeypatch.setattr(wh, "SUPPORTS_MERGE", False)
    fallback = merged(feed, "fallback", t)
    assert not any(isinstance(s, exp.Merge) for s in seen)
    updates = [s for s in seen if isinstance(s, exp.Update) and s.args.get("from_")]
    assert len(updates) >= len(FILES)

    assert [r | {"_file_id": None} for r in declared] == [r | {"_file_id": None} for r in fallback]
    assert [(r["id"], r["name"]) for r in declared] == [(1, "c"), (2, "b"), (3, "d")]


@pytest.mark.parametrize("joins", [True, False], ids=["indexed", "not-indexed"])
def test_join_and_lookup_indexes_exist_only_where_declared(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, joins: bool
) -> None:
    monkeypatch.setattr(wh, "JOIN_INDEXES", joins)
    t = target("scd2")
    with wh.transaction():
        ensure_target(wh, "people", t)
        scd2.prepare(wh, "people", t, created=True)
    found = wh.indexes_of("people", wh.schemas.core)
    assert ("people__key_from" in found) is joins
    observed = scd2.Layout.of(wh, "people", t).observed.name
    assert ("people__observed_key" in wh.indexes_of(observed, wh.schemas.meta)) is joins
    with wh.transaction():
        ensure_target(wh, "accounts", target("merge"))
        merge.prepare(wh, "accounts", target("merge"))
        privacy_tables.ensure(wh)
    assert ("accounts__key" in wh.indexes_of("accounts", wh.schemas.core)) is joins
    subjects = wh.indexes_of(privacy_tables.SUBJECT_RECORDS, wh.schemas.meta)
    assert bool(subjects) is joins, subjects


@pytest.mark.parametrize("analyze", [True, False], ids=["analyzed", "not-analyzed"])
def test_work_tables_are_analyzed_only_where_declared(
    wh: Warehouse, feed: Feeder, monkeypatch: pytest.MonkeyPatch, analyze: bool
) -> None:
    monkeypatch.setattr(wh, "ANALYZE_WORK_TABLES", analyze)
    seen = recorded(wh, monkeypatch)
    t = target("scd2")
    feed.load("people", t, FILES[0], DAY0)
    feed.load("people", t, FILES[1], DAY0 + timedelta(days=1))
    analyzed = [s for s in seen if isinstance(s, exp.Analyze)]
    assert bool(analyzed) is analyze
    assert feed.read("people", ["id"], ["id"])  # the load itself went through
