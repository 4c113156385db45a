"""Load modes that keep state by key: merge, replace, and SCD type 2 history.

Each test body runs against every warehouse of ``KINDS`` in conftest.py. The property tests
compare the scd2 table, after random sequences of files arriving in any order, with a
reference model written here: per key, the observations sorted by time, compressed. The
scd2 paths section checks the loader's shortcuts: keys without history inserted directly
(against the general path), files whose rows carry their own times (a second model), and a
delta that reads only its own keys' history (by counting the rows of its temporary tables).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tidegate.compute.duckdb import DuckDBEngine
from tidegate.config.models import ColumnSpec, HistoryColumns, HistoryConfig, TargetConfig
from tidegate.errors import WarehouseError
from tidegate.sql import col, table
from tidegate.warehouse import scd2
from tidegate.warehouse.base import Rows, Warehouse
from tidegate.warehouse.duckdb import DuckDBWarehouse
from tidegate.warehouse.load import Applied, LoadContext, apply, ensure_target, rows_of_file

DAY0 = datetime(2024, 1, 1)
HISTORY = ["_valid_from", "_valid_to", "_is_current", "_is_deleted"]


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def target(load: str = "scd2", **options: Any) -> TargetConfig:
    columns = {
        "id": ColumnSpec(type="integer", required=True),
        "name": ColumnSpec(type="varchar"),
        "score": ColumnSpec(type="decimal(10,2)"),
    }
    return TargetConfig(columns=columns, key=["id"], load=load, **options)


def snapshots(**options: Any) -> TargetConfig:
    return target(history=HistoryConfig(deletes="invalidate", **options))


def table_name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def versions(
    feed: Any, name: str, columns: tuple[str, ...] = ("id", "name")
) -> list[tuple[Any, ...]]:
    rows = feed.read(name, [*columns, *HISTORY], [*columns[:1], "_valid_from"])
    return [tuple(r.values()) for r in rows]


# --------------------------------------------------------------------------- merge


def test_merge_inserts_new_keys_updates_changed_ones_and_leaves_the_rest(feed: Any) -> None:
    t = target("merge")
    feed.load("m", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(1), file_id="f1")
    applied = feed.load(
        "m", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "B"}, {"id": 3, "name": "c"}], day(2)
    )
    assert (applied.loaded, applied.unchanged) == (2, 1)
    rows = feed.read("m", ["id", "name", "_file_id"], ["id"])
    assert [(r["id"], r["name"]) for r in rows] == [(1, "a"), (2, "B"), (3, "c")]
    assert rows[0]["_file_id"] == "f1"  # an unchanged row is not rewritten


def test_merge_keeps_the_last_row_of_a_key_within_a_file(feed: Any) -> None:
    rows = [{"id": 1, "name": "first"}, {"id": 2, "name": "x"}, {"id": 1, "name": "last"}]
    applied = feed.load("m", target("merge"), rows, day(1))
    assert (applied.loaded, applied.unchanged, applied.superseded) == (2, 0, 1)
    assert [r["name"] for r in feed.read("m", ["name"], ["id"])] == ["last", "x"]


def test_merge_prefers_the_declared_order_column_over_row_order(feed: Any) -> None:
    t = target("merge", order_by="score")
    rows = [{"id": 1, "name": "high", "score": 9}, {"id": 1, "name": "low", "score": 1}]
    feed.load("m", t, rows, day(1))
    assert feed.read("m", ["name"], ["id"]) == [{"name": "high"}]


def test_merge_treats_null_and_empty_string_as_different(feed: Any) -> None:
    t = target("merge")
    feed.load("m", t, [{"id": 1, "name": None}], day(1))
    assert feed.load("m", t, [{"id": 1, "name": ""}], day(2)).loaded == 1
    assert feed.load("m", t, [{"id": 1, "name": None}], day(3)).loaded == 1
    assert feed.load("m", t, [{"id": 1, "name": None}], day(4)).unchanged == 1


def test_merge_hash_ignores_the_order_of_columns_in_the_batch(feed: Any) -> None:
    t = target("merge")
    row = {"id": 1, "name": "a", "score": 1.5}
    feed.load("m", t, [row], day(1), columns=["id", "name", "score"])
    again = feed.load("m", t, [row], day(2), columns=["score", "name", "id"])
    assert (again.loaded, again.unchanged) == (0, 1)


def test_reapplying_a_merge_file_changes_nothing(feed: Any) -> None:
    t = target("merge")
    rows = [{"id": k, "name": str(k)} for k in range(5)]
    feed.load("m", t, rows, day(1))
    before = feed.read("m", ["id", "name", "_file_id", "_loaded_at"], ["id"])
    assert feed.load("m", t, rows, day(2)).unchanged == 5
    assert feed.read("m", ["id", "name", "_file_id", "_loaded_at"], ["id"]) == before


def test_a_row_without_its_key_fails_the_load(feed: Any) -> None:
    with pytest.raises(WarehouseError, match="no value in a key column"):
        feed.load("m", target("merge"), [{"id": None, "name": "a"}], day(1))


# --------------------------------------------------------------------------- replace


def test_replace_makes_the_table_the_last_file(feed: Any) -> None:
    t = target("replace")
    feed.load("r", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(1))
    applied = feed.load("r", t, [{"id": 3, "name": "c"}], day(2))
    assert applied.loaded == 1
    assert feed.read("r", ["id", "name"], ["id"]) == [{"id": 3, "name": "c"}]


# --------------------------------------------------------------------------- scd2


def test_scd2_opens_a_version_only_when_a_tracked_value_changes(feed: Any) -> None:
    t = target()
    feed.load("h", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(1))
    same = feed.load("h", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(2))
    assert (same.loaded, same.unchanged) == (0, 2)
    changed = feed.load("h", t, [{"id": 1, "name": "a2"}], day(3))
    assert changed.loaded == 1
    assert versions(feed, "h") == [
        (1, "a", day(1), day(3), False, False),
        (1, "a2", day(3), None, True, False),
        (2, "b", day(1), None, True, False),  # deletes: ignore, so absence closes nothing
    ]


def test_scd2_ignores_changes_of_untracked_columns(feed: Any) -> None:
    t = target(history=HistoryConfig(track=["name"]))
    feed.load("h", t, [{"id": 1, "name": "a", "score": 1}], day(1))
    assert feed.load("h", t, [{"id": 1, "name": "a", "score": 2}], day(2)).unchanged == 1
    assert feed.load("h", t, [{"id": 1, "name": "b", "score": 2}], day(3)).loaded == 1


def test_a_late_file_splits_the_version_in_force_and_the_old_state_resumes(feed: Any) -> None:
    t = snapshots()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1))
    feed.load("h", t, [{"id": 1, "name": "a"}], day(5))  # confirms 'a' on day 5
    late = feed.load("h", t, [{"id": 1, "name": "x"}], day(3))
    assert late.loaded == 1
    assert versions(feed, "h") == [
        (1, "a", day(1), day(3), False, False),
        (1, "x", day(3), day(5), False, False),
        (1, "a", day(5), None, True, False),  # the day-5 snapshot said 'a'; it stays current
    ]


def test_a_late_version_equal_to_the_next_one_absorbs_it(feed: Any) -> None:
    t = target()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1), file_id="first")
    feed.load("h", t, [{"id": 1, "name": "b"}], day(5), file_id="later")
    late = feed.load("h", t, [{"id": 1, "name": "b"}], day(3), file_id="late")
    assert late.loaded == 1
    rows = feed.read("h", ["name", "_file_id", *HISTORY], ["_valid_from"])
    assert [tuple(r.values()) for r in rows] == [
        ("a", "first", day(1), day(3), False, False),
        ("b", "late", day(3), None, True, False),  # the earliest observation's row survives
    ]


def test_a_late_row_equal_to_the_version_in_force_is_unchanged(feed: Any) -> None:
    t = target()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1))
    feed.load("h", t, [{"id": 1, "name": "b"}], day(5))
    late = feed.load("h", t, [{"id": 1, "name": "a"}], day(3))
    assert (late.loaded, late.unchanged) == (0, 1)
    assert len(versions(feed, "h")) == 2


def test_invalidate_closes_absent_keys_and_a_returning_key_opens_a_version(feed: Any) -> None:
    t = snapshots()
    feed.load("h", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(1))
    gone = feed.load("h", t, [{"id": 1, "name": "a"}], day(2))
    assert (gone.loaded, gone.unchanged) == (0, 1)
    back = feed.load("h", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(4))
    assert back.loaded == 1
    assert versions(feed, "h") == [
        (1, "a", day(1), None, True, False),
        (2, "b", day(1), day(2), False, True),
        (2, "b", day(4), None, True, False),
    ]


def test_open_end_and_column_names_follow_the_configuration(feed: Any) -> None:
    names = HistoryColumns(
        valid_from="vf", valid_to="vt", is_current="cur", is_deleted="del", row_hash="h"
    )
    t = target(history=HistoryConfig(valid_to_open="9999-12-31", columns=names))
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1))
    feed.load("h", t, [{"id": 1, "name": "b"}], day(2))
    rows = feed.read("h", ["name", "vf", "vt", "cur", "del"], ["vf"])
    assert [tuple(r.values()) for r in rows] == [
        ("a", day(1), day(2), False, False),
        ("b", day(2), datetime(9999, 12, 31), True, False),
    ]


def test_rows_of_one_file_at_several_times_make_several_versions(feed: Any, wh: Any) -> None:
    """An effective time taken from a column: one file can carry a key's whole history."""
    t = target()
    ctx_rows = [(day(3), "c"), (day(1), "a"), (day(2), "a"), (day(2), "b")]
    reader = _timed_batch(feed, t, ctx_rows)
    from tidegate.warehouse.load import LoadContext, apply

    with wh.transaction():
        applied = apply(wh, "h", t, reader, LoadContext("f", day(9), day(9)))
    assert (applied.loaded, applied.unchanged, applied.superseded) == (3, 0, 1)
    assert versions(feed, "h") == [
        (1, "a", day(1), day(2), False, False),
        (1, "b", day(2), day(3), False, False),  # the later row of day 2 wins
        (1, "c", day(3), None, True, False),
    ]


def _timed_batch(feed: Any, t: TargetConfig, rows: list[tuple[datetime, str]]) -> Any:
    import pyarrow as pa

    from tidegate.warehouse.load import LoadContext

    ctx = LoadContext("f", day(9), day(0))
    plain = feed.batch(t, [{"id": 1, "name": n} for _, n in rows], ctx, with_valid_from=True)
    table = plain.read_all()
    times = pa.array([when for when, _ in rows], pa.timestamp("us"))
    table = table.set_column(table.schema.get_field_index("_valid_from"), "_valid_from", times)
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def test_a_batch_without_valid_from_takes_the_files_effective_time(feed: Any) -> None:
    feed.load("h", target(), [{"id": 1, "name": "a"}], day(7), with_valid_from=False)
    assert versions(feed, "h") == [(1, "a", day(7), None, True, False)]


def test_an_empty_snapshot_closes_every_key(feed: Any) -> None:
    t = snapshots()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1))
    assert feed.load("h", t, [], day(2)).loaded == 0
    assert versions(feed, "h") == [(1, "a", day(1), day(2), False, True)]


@pytest.mark.parametrize("load", ["merge", "scd2"])
def test_a_rolled_back_load_leaves_nothing_and_its_rerun_equals_a_clean_run(
    feed: Any, wh: Any, load: str
) -> None:
    from tidegate.warehouse.load import LoadContext, apply

    t = target(load)
    first = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    second = [{"id": 1, "name": "a2"}, {"id": 3, "name": "c"}]
    feed.load("clean", t, first, day(1), file_id="f1")
    feed.load("clean", t, second, day(2), file_id="f2")
    feed.load("crash", t, first, day(1), file_id="f1")
    ctx = LoadContext("f2", day(2), day(2))
    with pytest.raises(RuntimeError), wh.transaction():
        apply(wh, "crash", t, feed.batch(t, second, ctx), ctx)
        raise RuntimeError("killed before commit")
    feed.load("crash", t, second, day(2), file_id="f2")
    columns = ["id", "name", "_file_id", "_row_hash"] + (HISTORY if load == "scd2" else [])
    assert feed.read("crash", columns, ["id", "_file_id"]) == feed.read(
        "clean", columns, ["id", "_file_id"]
    )


INDEX_CATALOGUES = {
    "duckdb": ["SELECT index_name FROM duckdb_indexes()"],
    "postgres": ["SELECT indexname FROM pg_indexes"],
    "sqlite": [
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'index'"
        for schema in ("main", "core", "tidegate")
    ],
}


def indexes_of(wh: Any) -> set[str]:
    return {row[0] for query in INDEX_CATALOGUES[wh.NAME] for row in wh._run(query)}


def test_history_tables_are_indexed_on_their_key(feed: Any, wh: Any) -> None:
    feed.load("h", target(), [{"id": 1, "name": "a"}], day(1))
    feed.load("m", target("merge"), [{"id": 1, "name": "a"}], day(1))
    indexes = indexes_of(wh)
    keyed = {"m__key", "h__key_from", "h__observed_key"}
    if wh.NAME == "duckdb":  # hash joins only; an index would cost every checkpoint
        assert not keyed & indexes
    else:
        assert keyed <= indexes


def test_the_index_on_key_and_current_flag_of_earlier_versions_is_dropped(
    feed: Any, wh: Any
) -> None:
    feed.load("h", target(), [{"id": 1, "name": "a"}], day(1))
    wh.ensure_index("h", wh.schemas.core, "h__key_current", ["id", "_is_current"])
    wh.ensure_index("h__observed", wh.schemas.meta, "h__observed_key", ["id", "_observed_at"])
    assert "h__key_current" in indexes_of(wh)
    feed.load("h", target(), [{"id": 1, "name": "b"}], day(2))
    indexes = indexes_of(wh)
    assert "h__key_current" not in indexes
    assert ("h__observed_key" in indexes) == (wh.NAME != "duckdb")


# --------------------------------------------------------------------------- properties

KEYS = st.integers(min_value=1, max_value=4)
VALUES = st.sampled_from([None, "", "a", "b"])
ABSENT = None


@dataclass(frozen=True)
class File:
    name: str
    day: int
    rows: dict[int, str | None]  # key -> name

    def batch(self) -> list[dict[str, Any]]:
        return [{"id": k, "name": v} for k, v in sorted(self.rows.items())]


@st.composite
def arrivals(draw: st.DrawFn) -> list[File]:
    """Files with distinct effective days, in a random order, some delivered twice."""
    days = draw(st.lists(st.integers(0, 20), min_size=1, max_size=5, unique=True))
    files = [
        File(f"s{i}", d, draw(st.dictionaries(KEYS, VALUES, max_size=4)))
        for i, d in enumerate(days)
    ]
    order = list(draw(st.permutations(files)))
    for again in draw(st.lists(st.sampled_from(files), max_size=2)):
        order.insert(draw(st.integers(0, len(order))), again)
    return order


Version = tuple[int, str | None, datetime, datetime | None, bool, bool]


def observations(files: list[File], key: int, full: bool) -> list[tuple[int, Any]]:
    """(day, state) of one key; a full snapshot without the key observes its absence."""
    if full:
        seen = [(f.day, ("value", f.rows[key]) if key in f.rows else ABSENT) for f in files]
    else:
        seen = [(f.day, ("value", f.rows[key])) for f in files if key in f.rows]
    return sorted(seen, key=lambda item: item[0])


def model(files: list[File], full: bool) -> list[Version]:
    """The expected table: per key, runs of equal observations; an absence ends a run."""
    out: list[Version] = []
    for key in sorted({k for f in files for k in f.rows}):
        previous: Any = ABSENT
        for at, state in observations(files, key, full):
            if state == previous:
                continue
            if out and out[-1][0] == key and out[-1][4]:
                k, name, start, _, _, _ = out[-1]
                out[-1] = (k, name, start, day(at), False, state is ABSENT)
            if state is not ABSENT:
                out.append((key, state[1], day(at), None, True, False))
            previous = state
    return out


def check_invariants(rows: list[Version]) -> None:
    by_key: dict[int, list[Version]] = {}
    for row in rows:
        by_key.setdefault(row[0], []).append(row)
    for chain in by_key.values():
        assert sum(1 for v in chain if v[4]) <= 1, "at most one current version"
        for before, after in itertools.pairwise(chain):
            assert before[3] is not None and before[3] <= after[2], "versions never overlap"
            assert before[3] == after[2] or before[5], "only a deletion leaves a gap"
        for v in chain[:-1]:
            assert not v[4], "only the latest version is current"
        assert all((v[3] is None) == v[4] for v in chain), "open exactly when current"


def as_of(rows: list[Version], when: datetime) -> dict[int, str | None]:
    return {
        r[0]: r[1] for r in rows if r[2] <= when and (r[4] or (r[3] is not None and when < r[3]))
    }


def expected_as_of(files: list[File], when: int, full: bool) -> dict[int, str | None]:
    earlier = sorted((f for f in files if f.day <= when), key=lambda f: f.day)
    if full:
        return dict(earlier[-1].rows) if earlier else {}
    state: dict[int, str | None] = {}
    for f in earlier:
        state.update(f.rows)
    return state


def run_sequence(feed: Any, files: list[File], full: bool) -> None:
    t = snapshots() if full else target()
    name = table_name()
    applied: list[File] = []
    for n, file in enumerate(files):
        feed.load(name, t, file.batch(), day(file.day), file_id=f"{file.name}#{n}")
        if file not in applied:
            applied.append(file)
        rows = versions(feed, name)
        check_invariants(rows)
        assert rows == model(applied, full)
        for f in applied:
            assert as_of(rows, day(f.day)) == expected_as_of(applied, f.day, full)
    _check_lineage(feed, name, applied)
    for file in applied:  # re-applying any file is a no-op
        before = versions(feed, name)
        again = feed.load(name, t, file.batch(), day(file.day), file_id=f"{file.name}#again")
        assert (again.loaded, again.unchanged) == (0, len(file.rows))
        assert versions(feed, name) == before


def _check_lineage(feed: Any, name: str, files: list[File]) -> None:
    """Every version names a file that said exactly that for its key."""
    by_name = {f.name: f for f in files}
    for row in feed.read(name, ["id", "name", "_file_id"], ["id"]):
        source = by_name[row["_file_id"].split("#")[0]]
        assert source.rows[row["id"]] == row["name"]


# Examples per warehouse: a server round trip costs more than an embedded one.
EXAMPLES = {"duckdb": 10, "spark": 2}  # a Spark load is some tens of jobs
OTHERS = 4


def prove(feed: Any, full: bool) -> None:
    """Run the property with a number of examples that suits the warehouse under test."""

    @settings(
        max_examples=EXAMPLES.get(feed.wh.NAME, OTHERS),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(files=arrivals())
    def sequence(files: list[File]) -> None:
        run_sequence(feed, files, full=full)

    sequence()


def test_snapshots_in_any_order_give_the_history_of_the_model(feed: Any) -> None:
    prove(feed, full=True)


def test_partial_files_in_any_order_give_the_history_of_the_model(feed: Any) -> None:
    prove(feed, full=False)


# --------------------------------------------------------------------------- scd2 paths
# Fresh keys inserted directly, rows at several times per file, and a delta that reads
# only its own keys' history.

Row = tuple[int, int, str | None]  # key, day, name
ALL = ["id", "name", "score", "_file_id", "_row", "_loaded_at", "_row_hash", *HISTORY]


def load_timed(feed: Any, name: str, t: TargetConfig, rows: Sequence[Row], file_id: str) -> Applied:
    """Apply rows that carry their own effective day, as an effective-time column would."""
    ctx = LoadContext(file_id, loaded_at=day(30), effective_at=day(30))
    plain = feed.batch(t, [{"id": k, "name": v} for k, _, v in rows], ctx, with_valid_from=True)
    plain = plain.read_all()
    times = pa.array([day(d) for _, d, _ in rows], pa.timestamp("us"))
    at = plain.schema.get_field_index("_valid_from")
    timed = plain.set_column(at, "_valid_from", times)
    reader = pa.RecordBatchReader.from_batches(timed.schema, timed.to_batches())
    with feed.wh.transaction():
        applied: Applied = apply(feed.wh, name, t, reader, ctx)
        assert rows_of_file(feed.wh, name, file_id) == applied.loaded
    assert applied.loaded + applied.unchanged + applied.superseded == len(rows)
    return applied


@contextmanager
def general_path_only() -> Iterator[None]:
    """Send keys without history through the event machinery too."""
    with mock.patch.object(scd2, "_no_later_snapshot", return_value=False):
        yield


def everything(feed: Any, name: str) -> list[dict[str, Any]]:
    return list(feed.read(name, ALL, ["id", "_valid_from"]))


# --------------------------------------------------------------------------- examples


def test_an_earlier_unchanged_row_of_a_changed_key_adds_no_version(feed: Any) -> None:
    t = target()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1))
    feed.load("h", t, [{"id": 1, "name": "b"}], day(5))
    applied = load_timed(feed, "h", t, [(1, 2, "a"), (1, 6, "x")], "g")
    assert (applied.loaded, applied.unchanged) == (1, 1)
    assert versions(feed, "h") == [
        (1, "a", day(1), day(5), False, False),
        (1, "b", day(5), day(6), False, False),
        (1, "x", day(6), None, True, False),
    ]


def test_the_start_of_a_folded_version_still_ends_a_later_late_row(feed: Any) -> None:
    t = target()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(1))
    feed.load("h", t, [{"id": 1, "name": "b"}], day(5))
    feed.load("h", t, [{"id": 1, "name": "b"}], day(3))  # folds the version of day 5
    feed.load("h", t, [{"id": 1, "name": "x"}], day(4))
    assert versions(feed, "h") == [
        (1, "a", day(1), day(3), False, False),
        (1, "b", day(3), day(4), False, False),
        (1, "x", day(4), day(5), False, False),
        (1, "b", day(5), None, True, False),  # day 5 said 'b'
    ]


def test_a_fresh_key_with_rows_at_several_times_is_compressed(feed: Any) -> None:
    rows: list[Row] = [(1, 1, "a"), (1, 2, "a"), (1, 3, "b"), (2, 4, None), (1, 5, "a")]
    applied = load_timed(feed, "h", target(), rows, "f")
    assert (applied.loaded, applied.unchanged) == (4, 1)
    assert versions(feed, "h") == [
        (1, "a", day(1), day(3), False, False),
        (1, "b", day(3), day(5), False, False),
        (1, "a", day(5), None, True, False),
        (2, None, day(4), None, True, False),
    ]
    late = load_timed(feed, "h", target(), [(1, 2, "x")], "late")  # day 2 was 'a'
    assert late.loaded == 1
    assert versions(feed, "h")[:3] == [
        (1, "a", day(1), day(2), False, False),
        (1, "x", day(2), day(3), False, False),
        (1, "b", day(3), day(5), False, False),
    ]


def test_only_rows_that_start_no_version_are_recorded_as_observations(
    feed: Any, wh: Warehouse
) -> None:
    t = target()
    rows = [{"id": k, "name": "a"} for k in range(1, 4)]
    feed.load("h", t, rows, day(1))
    observed = table("h__observed", wh.schemas.meta)
    assert wh.count(observed.name, wh.schemas.meta) == 0  # every row starts a version
    feed.load("h", t, [{"id": 1, "name": "b"}, {"id": 2, "name": "a"}], day(2))
    listed = wh.execute(exp.select(col("id")).from_(observed))
    assert [tuple(r) for r in listed] == [(2,)]  # 2 was confirmed, 1 changed


def test_a_late_snapshot_sends_new_keys_through_the_events(feed: Any) -> None:
    t = snapshots()
    feed.load("h", t, [{"id": 1, "name": "a"}], day(5))
    feed.load("h", t, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(3))
    assert versions(feed, "h") == [
        (1, "a", day(3), None, True, False),
        (2, "b", day(3), day(5), False, True),  # the snapshot of day 5 lacked it
    ]


# --------------------------------------------------------------------------- one pass


class Counted:
    """Counts the rows of every temporary table a load creates."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.rows: dict[str, int] = {}
        self.create = wh.create_temp

    def __call__(self, name: str, query: exp.Query) -> exp.Table:
        made = self.create(name, query)
        count = exp.select(exp.Count(this=exp.Star())).from_(made.copy())
        self.rows[name] = int(self.wh.scalar(count) or 0)
        return made


def test_a_delta_reads_only_the_history_of_its_own_keys(feed: Any, wh: Warehouse) -> None:
    t = target()
    feed.load("h", t, [{"id": k, "name": "a"} for k in range(1, 301)], day(1))
    feed.load("h", t, [{"id": k, "name": "b"} for k in range(1, 301, 2)], day(2))
    counted = Counted(wh)
    with mock.patch.object(wh, "create_temp", counted):
        delta = [{"id": 1, "name": "c"}, {"id": 2, "name": "a"}, {"id": 999, "name": "n"}]
        applied = feed.load("h", t, delta, day(3))
    assert (applied.loaded, applied.unchanged) == (2, 1)
    rows = counted.rows
    assert rows[scd2.VERSIONS] == 3  # key 1 has two versions, key 2 one; 999 none
    assert rows[scd2.KEYS] == 1  # only key 1 changed; 999 is new, 2 is unchanged
    assert rows[scd2.WINDOW] == 1  # key 1's current version
    assert max(rows.values()) <= 3
    assert len(versions(feed, "h")) == 300 + 150 + 2


# --------------------------------------------------------------------------- both paths


def test_the_fast_path_and_the_events_give_the_same_table(feed: Any) -> None:
    files: list[tuple[list[Row], str]] = [
        ([(1, 1, "a"), (2, 1, "b"), (3, 1, None)], "first"),
        ([(1, 2, "a"), (2, 2, "c"), (4, 2, "d"), (4, 3, "d"), (4, 4, "e")], "second"),
        ([(5, 0, "e"), (1, 0, "z")], "late"),
    ]
    names = [f"fast_{uuid.uuid4().hex[:6]}", f"slow_{uuid.uuid4().hex[:6]}"]
    counts: list[list[Applied]] = [[], []]
    for rows, file_id in files:
        counts[0].append(load_timed(feed, names[0], target(), rows, file_id))
        with general_path_only():
            counts[1].append(load_timed(feed, names[1], target(), rows, file_id))
    assert counts[0] == counts[1]
    assert everything(feed, names[0]) == everything(feed, names[1])


@pytest.mark.parametrize("wh", ["duckdb"], indirect=True)  # the one that is its engine
def test_a_query_of_the_warehouse_engine_gives_the_table_of_arrow_batches(
    feed: Any, wh: Warehouse
) -> None:
    """An embedded warehouse that computes the rows itself stages them by INSERT ... SELECT."""
    assert isinstance(wh, DuckDBWarehouse)
    t = target()
    files = [
        ([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], day(1), True),
        ([{"id": 1, "name": "c"}, {"id": 3, "name": None}], day(2), False),  # untimed
    ]
    for rows, when, timed in files:
        ctx = LoadContext(f"f{when.day}", loaded_at=when, effective_at=when)
        arrow = feed.load("arrow", t, rows, when, file_id=ctx.file_id, with_valid_from=timed)
        batch = feed.batch(t, rows, ctx, with_valid_from=timed).read_all()
        wh.con.register("_tg_test_rows", batch)
        query = exp.select(*[col(n) for n in batch.schema.names]).from_(table("_tg_test_rows"))
        with wh.transaction():
            ensure_target(wh, "engine", t)
            assert (
                scd2.scd2(wh, "engine", t, Rows(DuckDBEngine(wh.con, owned=False), query), ctx)
                == arrow
            )
        wh.con.unregister("_tg_test_rows")
    assert everything(feed, "engine") == everything(feed, "arrow")


# --------------------------------------------------------------------------- properties

TIMED_KEYS = st.integers(min_value=1, max_value=3)
TIMED_DAYS = st.integers(min_value=0, max_value=12)
TIMED_VALUES = st.sampled_from([None, "a", "b"])


@dataclass(frozen=True)
class TimedFile:
    name: str
    rows: tuple[Row, ...]  # one per key and day


@st.composite
def timed_arrivals(draw: st.DrawFn) -> list[TimedFile]:
    """Files whose rows carry their own days, in a random order, some delivered twice."""
    files = []
    for i in range(draw(st.integers(1, 4))):
        cells = draw(st.dictionaries(st.tuples(TIMED_KEYS, TIMED_DAYS), TIMED_VALUES, max_size=6))
        files.append(TimedFile(f"t{i}", tuple((k, d, v) for (k, d), v in sorted(cells.items()))))
    order = list(draw(st.permutations(files)))
    for again in draw(st.lists(st.sampled_from(files), max_size=2)):
        order.insert(draw(st.integers(0, len(order))), again)
    return order


def timed_model(loads: list[TimedFile]) -> list[Version]:
    """Observations by key and day, a later load overriding an earlier one; compressed."""
    seen: dict[tuple[int, int], str | None] = {}
    for file in loads:
        seen.update({(k, d): v for k, d, v in file.rows})
    out: list[Version] = []
    for key in sorted({k for k, _ in seen}):
        runs = [(d, v) for (k, d), v in sorted(seen.items()) if k == key]
        for d, v in runs:
            if out and out[-1][0] == key and out[-1][1] == v:
                continue
            if out and out[-1][0] == key:
                out[-1] = (*out[-1][:3], day(d), False, False)
            out.append((key, v, day(d), None, True, False))
    return out


def run_timed(feed: Any, loads: list[TimedFile], general: bool) -> None:
    name = f"t_{uuid.uuid4().hex[:10]}"
    done: list[TimedFile] = []
    for n, file in enumerate(loads):
        if general:
            with general_path_only():
                load_timed(feed, name, target(), file.rows, f"{file.name}#{n}")
        else:
            load_timed(feed, name, target(), file.rows, f"{file.name}#{n}")
        done.append(file)
        rows = versions(feed, name)
        check_invariants(rows)
        assert rows == timed_model(done)


def test_files_with_rows_at_several_times_give_the_history_of_the_model(feed: Any) -> None:
    @settings(
        max_examples=EXAMPLES.get(feed.wh.NAME, OTHERS),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(loads=timed_arrivals(), general=st.booleans())
    def sequence(loads: list[TimedFile], general: bool) -> None:
        run_timed(feed, loads, general)

    sequence()
