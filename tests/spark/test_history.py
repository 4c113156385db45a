"""History on Spark: merge, replace and scd2 bodies of ``tests/warehouse/test_history.py``,
run against the Spark warehouse, and the key buckets that keep a delta's rewrite small.

The bodies are the other warehouses' own (imported, so pytest runs them here again with
this module's ``wh``): their rows go through the Spark engine and the Spark warehouse, the
observation tables to the DuckDB control store. The property tests draw fewer examples on
Spark (``EXAMPLES``): each load is some tens of Spark jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tidegate.config.models import Schemas, WarehouseConfig
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.spark import SparkWarehouse

from ..warehouse.conftest import Feeder
from ..warehouse.test_history import (
    day,
    target,
    test_a_batch_without_valid_from_takes_the_files_effective_time,
    test_a_delta_reads_only_the_history_of_its_own_keys,
    test_a_late_file_splits_the_version_in_force_and_the_old_state_resumes,
    test_a_late_row_equal_to_the_version_in_force_is_unchanged,
    test_a_late_snapshot_sends_new_keys_through_the_events,
    test_a_late_version_equal_to_the_next_one_absorbs_it,
    test_a_row_without_its_key_fails_the_load,
    test_an_empty_snapshot_closes_every_key,
    test_files_with_rows_at_several_times_give_the_history_of_the_model,
    test_invalidate_closes_absent_keys_and_a_returning_key_opens_a_version,
    test_merge_inserts_new_keys_updates_changed_ones_and_leaves_the_rest,
    test_merge_keeps_the_last_row_of_a_key_within_a_file,
    test_merge_prefers_the_declared_order_column_over_row_order,
    test_merge_treats_null_and_empty_string_as_different,
    test_open_end_and_column_names_follow_the_configuration,
    test_partial_files_in_any_order_give_the_history_of_the_model,
    test_reapplying_a_merge_file_changes_nothing,
    test_replace_makes_the_table_the_last_file,
    test_rows_of_one_file_at_several_times_make_several_versions,
    test_scd2_ignores_changes_of_untracked_columns,
    test_scd2_opens_a_version_only_when_a_tracked_value_changes,
    test_snapshots_in_any_order_give_the_history_of_the_model,
    test_the_fast_path_and_the_events_give_the_same_table,
    test_the_start_of_a_folded_version_still_ends_a_later_late_row,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [  # the imported bodies, collected here with the Spark warehouse
    "test_a_batch_without_valid_from_takes_the_files_effective_time",
    "test_a_delta_reads_only_the_history_of_its_own_keys",
    "test_a_late_file_splits_the_version_in_force_and_the_old_state_resumes",
    "test_a_late_row_equal_to_the_version_in_force_is_unchanged",
    "test_a_late_snapshot_sends_new_keys_through_the_events",
    "test_a_late_version_equal_to_the_next_one_absorbs_it",
    "test_a_row_without_its_key_fails_the_load",
    "test_an_empty_snapshot_closes_every_key",
    "test_files_with_rows_at_several_times_give_the_history_of_the_model",
    "test_invalidate_closes_absent_keys_and_a_returning_key_opens_a_version",
    "test_merge_inserts_new_keys_updates_changed_ones_and_leaves_the_rest",
    "test_merge_keeps_the_last_row_of_a_key_within_a_file",
    "test_merge_prefers_the_declared_order_column_over_row_order",
    "test_merge_treats_null_and_empty_string_as_different",
    "test_open_end_and_column_names_follow_the_configuration",
    "test_partial_files_in_any_order_give_the_history_of_the_model",
    "test_reapplying_a_merge_file_changes_nothing",
    "test_replace_makes_the_table_the_last_file",
    "test_rows_of_one_file_at_several_times_make_several_versions",
    "test_scd2_ignores_changes_of_untracked_columns",
    "test_scd2_opens_a_version_only_when_a_tracked_value_changes",
    "test_snapshots_in_any_order_give_the_history_of_the_model",
    "test_the_fast_path_and_the_events_give_the_same_table",
    "test_the_start_of_a_folded_version_still_ends_a_later_late_row",
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
