"""History on Spark: merge, replace and scd2 bodies of ``tests/warehouse/test_history.py``,
run against the Spark warehouse, and the key buckets that keep a delta's rewrite small.

The bodies are the other warehouses' own (imported, so pytest runs them here again with
this module's ``wh``): their rows go through the Spark engine and the Spark warehouse, the
observation tables to the DuckDB control store. Each load is some tens of Spark jobs, so
the suite runs the property tests (fewer examples on Spark: ``EXAMPLES``) and one body of
each kind of change (merge, replace, snapshot deletes, late files); every other body of
``tests/warehouse/test_history.py`` passes on Spark too when imported here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlglot import exp

from tidegate.config.models import Schemas, WarehouseConfig
from tidegate.sql import col, lit, table
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.spark import SparkWarehouse

from ..warehouse.conftest import Feeder
from ..warehouse.test_history import (
    day,
    target,
    test_a_late_file_splits_the_version_in_force_and_the_old_state_resumes,
    test_a_late_snapshot_sends_new_keys_through_the_events,
    test_files_with_rows_at_several_times_give_the_history_of_the_model,
    test_invalidate_closes_absent_keys_and_a_returning_key_opens_a_version,
    test_merge_inserts_new_keys_updates_changed_ones_and_leaves_the_rest,
    test_partial_files_in_any_order_give_the_history_of_the_model,
    test_reapplying_a_merge_file_changes_nothing,
    test_replace_makes_the_table_the_last_file,
    test_scd2_opens_a_version_only_when_a_tracked_value_changes,
    test_snapshots_in_any_order_give_the_history_of_the_model,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [  # the imported bodies, collected here with the Spark warehouse
    "test_a_late_file_splits_the_version_in_force_and_the_old_state_resumes",
    "test_a_late_snapshot_sends_new_keys_through_the_events",
    "test_files_with_rows_at_several_times_give_the_history_of_the_model",
    "test_invalidate_closes_absent_keys_and_a_returning_key_opens_a_version",
    "test_merge_inserts_new_keys_updates_changed_ones_and_leaves_the_rest",
    "test_partial_files_in_any_order_give_the_history_of_the_model",
    "test_reapplying_a_merge_file_changes_nothing",
    "test_replace_makes_the_table_the_last_file",
    "test_scd2_opens_a_version_only_when_a_tracked_value_changes",
    "test_snapshots_in_any_order_give_the_history_of_the_model",
]


@pytest.fixture
def wh(spark: SparkSession, tmp_path: Path) -> Iterator[Warehouse]:
    """The Spark warehouse on the test session's Spark; schemas of its own (the session's
    catalog is shared by the tests)."""
    core = f"core_{uuid.uuid4().hex[:8]}"
    config = WarehouseConfig(
        type="spark",
        master="local[1]",
        warehouse_dir=str(tmp_path / "lake"),
        control=str(tmp_path / "control.duckdb"),
        schemas=Schemas(core=core, raw=f"raw_{core}"),
        buckets=4,
    )
    with SparkWarehouse(config, tmp_path) as warehouse:
        yield warehouse


@pytest.fixture
def feed(wh: Warehouse) -> Feeder:
    return Feeder(wh)


def test_rows_deleted_from_a_partition_do_not_come_back(feed: Any, wh: Warehouse) -> None:
    """A partition left without rows loses its files: a write to it, or a new session
    that finds the table's partitions again, does not bring them back."""
    t = target("merge")
    feed.load("h", t, [{"id": 7, "name": "a"}], day(1))
    wh.execute(exp.delete(table("h", wh.schemas.core), where=col("id").eq(lit(7))))
    feed.load("h", t, [{"id": 3, "name": "b"}], day(2))
    found = wh.execute(exp.select(col("id")).from_(table("h", wh.schemas.core)))
    assert found == [(3,)]
    assert wh.count("h", wh.schemas.core) == 1


def _files(wh: Warehouse, name: str) -> dict[str, set[str]]:
    """The Parquet files of each partition folder of a table."""
    folder = Path(wh.config.warehouse_dir or "") / wh.schemas.core / name
    return {
        part.name: {f.name for f in part.glob("*.parquet")}
        for part in sorted(folder.glob("_tg_bucket=*"))
    }


@pytest.mark.parametrize("mode", ["merge", "scd2"])
def test_a_delta_rewrites_only_the_buckets_of_its_keys(feed: Any, wh: Warehouse, mode: str) -> None:
    t = target(mode)
    feed.load("h", t, [{"id": k, "name": "a"} for k in range(1, 41)], day(1))
    before = _files(wh, "h")
    assert len(before) == 4  # 40 keys in every one of 4 buckets
    applied = feed.load("h", t, [{"id": 7, "name": "b"}, {"id": 8, "name": "a"}], day(2))
    assert (applied.loaded, applied.unchanged) == (1, 1)
    after = _files(wh, "h")
    changed = sorted(b for b in before if before[b] != after[b])
    assert len(changed) == 1  # key 7's bucket; key 8 is unchanged and its bucket too
    again = feed.load("h", t, [{"id": 7, "name": "b"}], day(2))
    assert (again.loaded, again.unchanged) == (0, 1)
    assert _files(wh, "h") == after  # re-applying a file rewrites nothing
