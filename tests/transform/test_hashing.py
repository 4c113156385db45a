"""The row hash: equal exactly when the tracked values are equal, whatever their layout."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from tidegate.config.models import ColumnSpec, HistoryConfig, TargetConfig
from tidegate.errors import ConfigError
from tidegate.transform.hashing import row_hash, tracked_columns


def target(types: dict[str, str], load: str = "merge", **options: Any) -> TargetConfig:
    columns = {name: ColumnSpec(type=kind) for name, kind in types.items()}
    return TargetConfig(columns=columns, key=[next(iter(types))], load=load, **options)


def hash_of(t: TargetConfig, select: str, *, timezone: str | None = None) -> str:
    """The hash of one row given as a SELECT list of typed expressions."""
    con = duckdb.connect()
    if timezone:
        con.execute(f"SET TimeZone = '{timezone}'")
    result = con.execute(f"SELECT {row_hash(t).sql('duckdb')} FROM (SELECT {select})").fetchone()
    assert result is not None
    return str(result[0])


def test_column_order_does_not_matter() -> None:
    ab = target({"a": "integer", "b": "varchar"})
    ba = target({"b": "varchar", "a": "integer"})
    assert hash_of(ab, "1 AS a, 'x' AS b") == hash_of(ba, "'x' AS b, 1 AS a")


def test_null_and_empty_string_differ() -> None:
    t = target({"a": "integer", "b": "varchar"})
    assert hash_of(t, "1 AS a, NULL::VARCHAR AS b") != hash_of(t, "1 AS a, '' AS b")


def test_values_cannot_imitate_the_separators() -> None:
    t = target({"a": "varchar", "b": "varchar"})
    assert hash_of(t, """'x","b":"y' AS a, NULL AS b""") != hash_of(t, "'x' AS a, 'y' AS b")
    assert hash_of(t, "'x,' AS a, 'y' AS b") != hash_of(t, "'x' AS a, ',y' AS b")


@pytest.mark.parametrize(
    ("kind", "left", "right"),
    [
        ("decimal(10,2)", "10.50::DECIMAL(10,2)", "10.5::DECIMAL(12,4)"),
        ("decimal(10,2)", "10.00::DECIMAL(10,2)", "10"),
        ("double", "1.0::DOUBLE", "1"),
        ("json", """'{"a": 1,  "b": [1, 2]}'::JSON""", """'{"a":1,"b":[1,2]}'::JSON"""),
    ],
)
def test_one_value_has_one_text_whatever_its_representation(
    kind: str, left: str, right: str
) -> None:
    t = target({"id": "integer", "v": kind})
    assert hash_of(t, f"1 AS id, {left} AS v") == hash_of(t, f"1 AS id, {right} AS v")


def test_a_changed_number_changes_the_hash() -> None:
    t = target({"id": "integer", "v": "decimal(10,2)"})
    assert hash_of(t, "1 AS id, 10.5 AS v") != hash_of(t, "1 AS id, 10.05 AS v")
    assert hash_of(t, "1 AS id, 100 AS v") != hash_of(t, "1 AS id, 1 AS v")


def test_an_instant_hashes_the_same_in_every_session_time_zone() -> None:
    t = target({"id": "integer", "at": "timestamptz"})
    row = "1 AS id, TIMESTAMPTZ '2024-06-01 12:00:00+00' AS at"
    assert hash_of(t, row, timezone="UTC") == hash_of(t, row, timezone="Asia/Tokyo")


def test_a_new_column_that_is_null_changes_no_hash() -> None:
    before = target({"id": "integer", "name": "varchar"})
    after = target({"id": "integer", "name": "varchar", "fax": "varchar"})
    row = "1 AS id, 'x' AS name"
    assert hash_of(before, row) == hash_of(after, f"{row}, NULL::VARCHAR AS fax")


def test_scd2_hashes_only_the_tracked_columns() -> None:
    t = target({"id": "integer", "a": "varchar", "b": "varchar"}, "scd2")
    tracked = TargetConfig(**{**t.model_dump(), "history": HistoryConfig(track=["b", "a"])})
    assert tracked_columns(tracked) == ["a", "b"]
    narrow = TargetConfig(**{**t.model_dump(), "history": HistoryConfig(track=["a"])})
    assert hash_of(narrow, "1 AS id, 'x' AS a, 'y' AS b") == hash_of(
        narrow, "2 AS id, 'x' AS a, 'z' AS b"
    )


def test_merge_hashes_every_column_whatever_history_says() -> None:
    t = target({"id": "integer", "a": "varchar"}, "merge", history=HistoryConfig(track=["a"]))
    assert tracked_columns(t) == ["a", "id"]


def test_tracking_an_unknown_column_is_a_config_error() -> None:
    t = target({"id": "integer"}, "scd2", history=HistoryConfig(track=["nope"]))
    with pytest.raises(ConfigError, match="nope"):
        row_hash(t)
