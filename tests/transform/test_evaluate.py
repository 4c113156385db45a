"""Mapping, casting and rules evaluated set-wise in the compute engine."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from tidegate.compute.duckdb import DuckDBEngine
from tidegate.config.models import ColumnSpec, OutputConfig, SourceConfig, TargetConfig
from tidegate.transform.evaluate import evaluate, plan, set_file_values
from tidegate.transform.mapping import file_values, missing_columns, output_rows

READ = "_tg_read"


def records(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """A read table like the reader makes: _row, then text columns."""
    names = list(rows[0])
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_read AS SELECT * FROM (VALUES "
        + ", ".join(
            "(" + ", ".join([str(i + 1)] + ["?"] * len(names)) + ")" for i in range(len(rows))
        )
        + ") AS t(_row, "
        + ", ".join(f'"{n}"' for n in names)
        + ")",
        [row[n] for row in rows for n in names],
    )


def outcome_of(
    rows: list[dict[str, Any]],
    columns: dict[str, dict[str, Any]],
    mapping: dict[str, str],
    **target: Any,
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]], Any]:
    con = duckdb.connect()
    records(con, rows)
    engine = DuckDBEngine(con, owned=False)
    set_file_values(
        engine,
        file_values("f.csv", "date=2020-01-02/f.csv", datetime(2020, 1, 2), {"date": "2020-01-02"}),
    )
    spec = TargetConfig(columns={k: ColumnSpec(**v) for k, v in columns.items()}, **target)
    source = SourceConfig(match="*", outputs=[OutputConfig(target="t", columns=mapping)])
    result = evaluate(engine, READ, source, {"t": spec})
    # The good rows carry their values, never a list of reasons (it is built for bad rows).
    cursor = con.execute(f"SELECT * FROM {result.outputs[0][1]} ORDER BY _row")
    names = [d[0] for d in cursor.description]
    good = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    bad: dict[int, list[dict[str, Any]]] = {}
    for row, reasons in con.execute(
        "SELECT _row, to_json(_reasons) FROM _tg_bad ORDER BY _row"
    ).fetchall():
        bad.setdefault(row, []).extend(json.loads(reasons))
    return good, bad, result


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("integer", " 42 ", 42),
        ("bigint", "9007199254740993", 9007199254740993),
        ("decimal(10,2)", "12.34", Decimal("12.34")),
        ("double", "1.5e3", 1500.0),
        ("boolean", "Yes", True),
        ("boolean", "n", False),
        ("boolean", "TRUE", True),
        ("boolean", "0", False),
        ("date", "2020-02-29", date(2020, 2, 29)),
        ("date", " 2020-02-29 ", date(2020, 2, 29)),
        ("boolean", " Yes ", True),
        ("timestamp", "2020-01-01 10:11:12", datetime(2020, 1, 1, 10, 11, 12)),
        ("varchar", "ünïcode", "ünïcode"),
        ("json", '{"a": [1, 2]}', '{"a": [1, 2]}'),
    ],
)
def test_types_cast(kind: str, raw: str, value: Any) -> None:
    good, bad, _ = outcome_of([{"v": raw}], {"v": {"type": kind}}, {"v": '"v"'})
    assert bad == {}
    assert good[0]["v"] == value


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("integer", "4x", "expected a valid integer"),
        ("decimal(10,2)", "1,5", "expected a valid decimal(10,2)"),
        ("double", "many", "expected a valid double"),
        ("boolean", "maybe", "expected a boolean (true/false, yes/no, y/n, 1/0)"),
        ("date", "2020-02-30", "expected a valid date"),
        ("timestamp", "yesterday", "expected a valid timestamp"),
        ("json", "{oops", "expected a valid json"),
    ],
)
def test_type_failures_are_row_failures(kind: str, raw: str, message: str) -> None:
    good, bad, result = outcome_of([{"v": raw}, {"v": None}], {"v": {"type": kind}}, {"v": '"v"'})
    assert [g["_row"] for g in good] == [2]
    assert bad == {1: [{"rule": "type", "column": "v", "value": raw, "message": message}]}
    assert result.rows_quarantined == 1


def test_date_formats_and_pivot_year() -> None:
    columns = {
        "d": {"type": "date", "formats": ["%m/%d/%y", "%d.%m.%Y"]},
        "p": {"type": "date", "formats": ["%m/%d/%y"], "pivot_year": 30},
    }
    rows = [
        {"d": "6/30/24", "p": "9/16/94"},
        {"d": "31.12.1999", "p": "1/2/45"},
        {"d": "2001-02-03", "p": "1/2/29"},
    ]
    good, bad, _ = outcome_of(rows, columns, {"d": '"d"', "p": '"p"'})
    assert bad == {}
    assert [(g["d"], g["p"]) for g in good] == [
        (date(2024, 6, 30), date(1994, 9, 16)),
        (date(1999, 12, 31), date(1945, 1, 2)),
        (date(2001, 2, 3), date(2029, 1, 2)),
    ]


def test_date_format_failure_names_the_formats() -> None:
    _, bad, _ = outcome_of(
        [{"d": "13/45/99"}], {"d": {"type": "date", "formats": ["%m/%d/%y"]}}, {"d": '"d"'}
    )
    assert bad[1][0]["message"] == "expected a date in one of the formats ['%m/%d/%y']"


@pytest.mark.parametrize(
    ("spec", "value", "rule", "message"),
    [
        ({"required": True}, None, "required", "a value is required"),
        ({"required": True}, "  ", "required", "a value is required"),
        ({"pattern": r"^\d{3}$"}, "12a", "pattern", r"does not match the pattern ^\d{3}$"),
        ({"allowed": ["NV", "OK"]}, "TX", "allowed", "is not one of ['NV', 'OK']"),
        ({"length": 3}, "abcd", "length", "is longer than 3 characters"),
        ({"min_length": 2}, "a", "min_length", "is shorter than 2 characters"),
    ],
)
def test_text_rules(spec: dict[str, Any], value: str | None, rule: str, message: str) -> None:
    good, bad, _ = outcome_of([{"v": value}], {"v": {"type": "varchar", **spec}}, {"v": '"v"'})
    assert good == []
    assert bad == {1: [{"rule": rule, "column": "v", "value": value, "message": message}]}


@pytest.mark.parametrize(
    ("spec", "value", "rule", "message"),
    [
        ({"min": 0}, "-1", "min", "is below the minimum 0"),
        ({"max": 10}, "11", "max", "is above the maximum 10"),
        ({"check": "n % 2 = 0"}, "3", "check", "fails the check n % 2 = 0"),
        ({"allowed": [1, 2]}, "3", "allowed", "is not one of [1, 2]"),
    ],
)
def test_number_rules(spec: dict[str, Any], value: str, rule: str, message: str) -> None:
    good, bad, _ = outcome_of(
        [{"n": value}, {"n": "2"}], {"n": {"type": "integer", **spec}}, {"n": '"n"'}
    )
    assert [g["n"] for g in good] == [2]
    assert bad == {1: [{"rule": rule, "column": "n", "value": value, "message": message}]}


def test_date_min_max() -> None:
    spec = {"type": "date", "min": "2000-01-01", "max": "2030-12-31"}
    good, bad, _ = outcome_of([{"d": "1999-12-31"}, {"d": "2020-01-01"}], {"d": spec}, {"d": '"d"'})
    assert [g["d"] for g in good] == [date(2020, 1, 1)]
    assert bad[1][0]["rule"] == "min"


def test_every_reason_of_a_row_is_kept() -> None:
    columns = {
        "a": {"type": "integer", "required": True},
        "b": {"type": "varchar", "pattern": "^x"},
        "c": {"type": "date"},
    }
    _, bad, _ = outcome_of(
        [{"a": None, "b": "y", "c": "nope"}], columns, {"a": '"a"', "b": '"b"', "c": '"c"'}
    )
    assert sorted(r["rule"] for r in bad[1]) == ["pattern", "required", "type"]


def test_check_over_several_columns_and_null_passes() -> None:
    columns = {"lo": {"type": "integer"}, "hi": {"type": "integer", "check": "hi >= lo"}}
    rows = [{"lo": "1", "hi": "2"}, {"lo": "3", "hi": "2"}, {"lo": None, "hi": "2"}]
    good, bad, _ = outcome_of(rows, columns, {"lo": '"lo"', "hi": '"hi"'})
    assert [g["_row"] for g in good] == [1, 3]
    assert list(bad) == [2]


def test_mapping_expressions_and_file_values() -> None:
    columns = {
        "name": {"type": "varchar"},
        "zip": {"type": "varchar"},
        "day": {"type": "date"},
        "file": {"type": "varchar"},
    }
    mapping = {
        "name": "upper(split_part(\"Full Name\", ' ', 1))",
        "zip": "regexp_extract(\"Address\", '(\\d{5})$', 1)",
        "day": "_file.date",
        "file": "_file.name",
    }
    good, bad, _ = outcome_of(
        [{"Full Name": "ada lovelace", "Address": "1 Main St, NV 89027"}], columns, mapping
    )
    assert bad == {}
    assert {k: good[0][k] for k in columns} == {
        "name": "ADA",
        "zip": "89027",
        "day": date(2020, 1, 2),
        "file": "f.csv",
    }


def test_unmapped_columns_are_null() -> None:
    good, _, _ = outcome_of(
        [{"a": "1"}], {"a": {"type": "integer"}, "b": {"type": "varchar"}}, {"a": '"a"'}
    )
    assert good[0]["b"] is None


def test_duplicate_keys_quarantined_after_the_first() -> None:
    rows = [{"k": "1", "v": "a"}, {"k": "2", "v": "b"}, {"k": "1", "v": "c"}]
    good, bad, result = outcome_of(
        rows,
        {"k": {"type": "integer"}, "v": {"type": "varchar"}},
        {"k": '"k"', "v": '"v"'},
        key=["k"],
    )
    assert [g["v"] for g in good] == ["a", "b"]
    assert bad == {
        3: [
            {
                "rule": "duplicate",
                "column": "k",
                "value": "1",
                "message": "duplicate key; first seen at row 1",
            }
        ]
    }
    assert (result.rows_quarantined, result.rows_duplicate) == (1, 0)


def test_duplicate_keys_keep_last() -> None:
    rows = [{"k": "1", "v": "a"}, {"k": "2", "v": "b"}, {"k": "1", "v": "c"}]
    good, bad, result = outcome_of(
        rows,
        {"k": {"type": "integer"}, "v": {"type": "varchar"}},
        {"k": '"k"', "v": '"v"'},
        key=["k"],
        duplicates="keep_last",
    )
    assert [g["v"] for g in good] == ["b", "c"]
    assert bad == {}
    assert (result.rows_quarantined, result.rows_duplicate) == (0, 1)


def test_duplicates_of_a_compound_key_name_the_first_good_row() -> None:
    """Three rows of one key: the two later ones name the first; a bad row is never the
    first, and rows without a key value are not duplicates of each other."""
    rows = [
        {"a": "1", "b": "x", "n": "bad"},
        {"a": "1", "b": "x", "n": "2"},
        {"a": "1", "b": "y", "n": "3"},
        {"a": "1", "b": "x", "n": "4"},
        {"a": None, "b": "x", "n": "5"},
        {"a": None, "b": "x", "n": "6"},
        {"a": "1", "b": "x", "n": "7"},
    ]
    columns = {"a": {"type": "integer"}, "b": {"type": "varchar"}, "n": {"type": "integer"}}
    mapping = {"a": '"a"', "b": '"b"', "n": '"n"'}
    good, bad, result = outcome_of(rows, columns, mapping, key=["a", "b"])
    assert [g["n"] for g in good] == [2, 3, 5, 6]
    assert {row: [r["rule"] for r in reasons] for row, reasons in bad.items()} == {
        1: ["type"],
        4: ["duplicate"],
        7: ["duplicate"],
    }
    assert bad[7] == [
        {
            "rule": "duplicate",
            "column": "a, b",
            "value": "1, x",
            "message": "duplicate key; first seen at row 2",
        }
    ]
    assert (result.rows_quarantined, result.rows_duplicate) == (3, 0)

    good, bad, result = outcome_of(rows, columns, mapping, key=["a", "b"], duplicates="keep_last")
    assert [g["n"] for g in good] == [3, 5, 6, 7]
    assert (result.rows_quarantined, result.rows_duplicate) == (1, 2)


def test_a_cast_that_reads_its_text_twice_computes_it_once() -> None:
    """A date tries its formats, then ISO, on the same trimmed text; a boolean compares one
    lowered word twice. Each is computed once per column, in a layer of its own: repeated
    in the typed projection, DuckDB's common-subexpression pass made a file of thousands
    of date columns take minutes."""
    columns = {
        "d": ColumnSpec(type="date", formats=["%m/%d/%Y", "%Y%m%d"]),
        "b": ColumnSpec(type="boolean"),
        "n": ColumnSpec(type="integer"),
    }
    output = OutputConfig(target="t", columns={name: f'"{name}"' for name in columns})
    sql = output_rows(READ, {}, output, TargetConfig(columns=columns)).sql("duckdb")
    assert sql.count('TRIM(CAST("d__raw" AS TEXT))') == 1
    assert sql.count('LOWER(TRIM(CAST("b__raw" AS TEXT)))') == 1
    assert sql.count('TRIM(CAST("n__raw" AS TEXT))') == 1


def test_missing_columns_are_named() -> None:
    source = SourceConfig(
        match="*",
        derive={"city": "split_part(\"Address\", ',', 2)"},
        outputs=[
            OutputConfig(
                target="t",
                columns={"a": '"Name"', "b": "city", "c": 'list_transform("Tags", x -> upper(x))'},
            )
        ],
    )
    assert missing_columns(source, ["name", "Tags"]) == ["Address"]


def test_a_plan_renders_its_outputs_as_tables_then_as_views_with_the_same_query() -> None:
    """The outputs' trees are rendered in place (no copy): a second rendering, of the other
    kind, must read the same query, for every type and rule."""
    kinds = ["varchar", "integer", "bigint", "decimal(10,2)", "double", "boolean", "date"]
    kinds += ["timestamp", "timestamptz", "json"]
    columns: dict[str, dict[str, Any]] = {f"c{i}": {"type": k} for i, k in enumerate(kinds)}
    columns["c6"] |= {"formats": ["%m/%d/%y"], "pivot_year": 30, "min": "2000-01-01"}
    columns["c0"] |= {"pattern": "^a", "allowed": ["a", "b"], "required": True}
    target = TargetConfig.model_validate({"columns": columns, "key": ["c1"], "load": "merge"})
    mapped = {c: f'trim("a{i}")' if i % 2 else f'"a{i}"' for i, c in enumerate(columns)}
    source = SourceConfig.model_validate(
        {"match": "x*.csv", "outputs": [{"target": "t", "columns": mapped}]}
    )
    tables_first = plan(READ, source, {"t": target})
    views_first = plan(READ, source, {"t": target})
    [table_sql] = tables_first.tables
    [view_sql] = views_first.views
    assert tables_first.views == [view_sql]
    assert views_first.tables == [table_sql]
    assert table_sql.replace("TEMPORARY TABLE", "TEMPORARY VIEW", 1) == view_sql


@pytest.mark.parametrize(
    ("unnest", "kind"), [(None, "VIEW"), ("from_json(items, '[\"JSON\"]')", "TABLE")]
)
def test_a_large_file_keeps_its_outputs_as_views_unless_the_source_unnests(
    unnest: str | None, kind: str
) -> None:
    """A view is computed again at each use: over a record's list, each use parses it, so a
    source that unnests stores its outputs whatever the file's size, and the rows agree."""
    con = duckdb.connect()
    records(con, [{"id": "1", "items": '[{"n": "a"}, {"n": "b"}]'}, {"id": "2", "items": "[]"}])
    engine = DuckDBEngine(con, owned=False)
    set_file_values(engine, file_values("f.jsonl", "f.jsonl", datetime(2020, 1, 2), {}))
    columns = {"id": "id", "n": "item->>'n'" if unnest else "id"}
    output = OutputConfig(target="t", columns=columns, unnest=unnest)
    spec = TargetConfig(columns={"id": ColumnSpec(type="integer"), "n": ColumnSpec()})
    source = SourceConfig(match="*", outputs=[output])
    result = evaluate(engine, READ, source, {"t": spec}, records=10**9)
    made = "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()"
    found = "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ? UNION ALL "
    found += "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ?"
    assert con.execute(found, ["_tg_out_0", "_tg_out_0"]).fetchall() == [(kind,)], con.execute(
        made
    ).fetchall()
    loaded = con.execute(f"SELECT id, n FROM {result.outputs[0][1]} ORDER BY ALL").fetchall()
    assert loaded == ([(1, "a"), (1, "b")] if unnest else [(1, "1"), (2, "2")])
