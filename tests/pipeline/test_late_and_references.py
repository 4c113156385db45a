"""A child that references its parent in the same file; late files into merge and replace."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from sqlglot import exp

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.scaffold import draft
from tidegate.sql import col, table
from tidegate.warehouse import connect

from .conftest import land, project_file, write_project

ORDERS_TARGET = """\
columns:
  order_id: {type: integer, required: true}
  customer: {type: varchar}
key: [order_id]
load: merge
"""

LINES_TARGET = """\
columns:
  order_id: {type: integer, required: true}
  line:     {type: integer, required: true}
  sku:      {type: varchar, required: true}
key: [order_id, line]
load: merge
references:
  - {columns: [order_id], target: orders}
"""

ORDERS_SOURCE = """\
match: "orders*.jsonl"
outputs:
  - target: orders
    columns: {order_id: order_id, customer: customer}
  - target: order_lines
    unnest: "from_json(items, '[\\"JSON\\"]')"
    columns: {order_id: order_id, line: _item, sku: "item->>'sku'"}
"""


def new_project(root: Path, warehouse: Callable[[], str], files: dict[str, str]) -> Path:
    return write_project(root, {"tidegate.yml": project_file(warehouse()), **files})


def rows(root: Path, name: str, columns: list[str]) -> list[tuple[str, ...]]:
    with connect(load_project(root)) as wh:
        found = wh.execute(exp.select(*[col(c) for c in columns]).from_(table(name, "core")))
    return sorted(tuple(str(v) for v in row) for row in found)


def order(order_id: int | None, customer: str, *skus: str) -> str:
    items = [{"sku": sku} for sku in skus]
    return json.dumps({"order_id": order_id, "customer": customer, "items": items})


def test_a_child_sees_its_parent_rows_in_the_same_file(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(
        tmp_path / "p",
        warehouse,
        {
            "targets/orders.yml": ORDERS_TARGET,
            "targets/order_lines.yml": LINES_TARGET,
            "sources/orders.yml": ORDERS_SOURCE,
        },
    )
    text = "\n".join([order(1, "ann", "a", "b"), order(2, "bo", "c"), order(None, "cy", "d")])
    land(root, "orders_1.jsonl", text + "\n")

    [file] = run(load_project(root)).files

    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        3,
        2,
        1,
    )
    assert rows(root, "orders", ["order_id", "customer"]) == [("1", "ann"), ("2", "bo")]
    assert rows(root, "order_lines", ["order_id", "line", "sku"]) == [
        ("1", "1", "a"),
        ("1", "2", "b"),
        ("2", "1", "c"),
    ]


def test_a_parent_row_of_a_bad_record_does_not_count(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    source = ORDERS_SOURCE.replace(
        "columns: {order_id: order_id, line: _item",
        "columns: {order_id: \"item->>'order'\", line: _item",
    )
    root = new_project(
        tmp_path / "p",
        warehouse,
        {
            "targets/orders.yml": ORDERS_TARGET,
            "targets/order_lines.yml": LINES_TARGET,
            "sources/orders.yml": source,
        },
    )
    lines = [
        {"order_id": 1, "customer": "ann", "items": [{"sku": "a", "order": 7}]},
        {"order_id": 2, "customer": "bo", "items": [{"sku": "b", "order": 1}]},
        {"order_id": 3, "customer": "cy", "items": []},
    ]
    land(root, "orders_1.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n")

    [file] = run(load_project(root)).files

    # Order 1 is not loaded (its own line points at order 7), so order 2's line has no parent.
    assert (file.status, file.rows_loaded, file.rows_quarantined) == ("loaded", 1, 2), file
    assert rows(root, "orders", ["order_id"]) == [("3",)]
    assert rows(root, "order_lines", ["order_id"]) == []


def _late_project(tmp_path: Path, warehouse: Callable[[], str], load: str, effective: str) -> Path:
    target = f"""\
columns:
  sku:     {{type: varchar, required: true}}
  price:   {{type: integer}}
  updated: {{type: timestamp}}
key: [sku]
load: {load}
history: {{effective: '{effective}'}}
"""
    source = """\
match: "prices_*.csv"
outputs:
  - target: prices
    columns: {sku: sku, price: price, updated: updated}
"""
    return new_project(
        tmp_path / "p", warehouse, {"targets/prices.yml": target, "sources/prices.yml": source}
    )


def prices(*rows: tuple[str, int, str]) -> str:
    return "sku,price,updated\n" + "".join(f"{s},{p},{u}\n" for s, p, u in rows)


def counts(root: Path) -> list[tuple[str, int, int, int]]:
    return [
        (f.status, f.rows_read, f.rows_loaded, f.rows_unchanged)
        for f in run(load_project(root)).files
    ]


BY_NAME = r"name:prices_(\d{4}-\d{2}-\d{2})\.csv$"
DAY = "2024-01-01 00:00:00"


def test_a_late_file_does_not_overwrite_newer_merge_rows(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _late_project(tmp_path, warehouse, "merge", BY_NAME)
    land(root, "prices_2024-01-02.csv", prices(("a", 2, DAY), ("b", 20, DAY)))
    assert counts(root) == [("loaded", 2, 2, 0)]

    land(root, "prices_2024-01-01.csv", prices(("a", 1, DAY), ("b", 20, DAY), ("c", 5, DAY)))
    # a is older than the table's row, b the same: only c, a new key, loads.
    assert counts(root) == [("loaded", 3, 1, 2)]
    assert rows(root, "prices", ["sku", "price"]) == [("a", "2"), ("b", "20"), ("c", "5")]

    land(root, "prices_2024-01-03.csv", prices(("a", 3, DAY), ("c", 5, DAY)))
    assert counts(root) == [("loaded", 2, 1, 1)]
    assert rows(root, "prices", ["sku", "price"]) == [("a", "3"), ("b", "20"), ("c", "5")]


def test_a_late_file_judged_by_the_newest_observation_of_unchanged_values(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _late_project(tmp_path, warehouse, "merge", BY_NAME)
    land(root, "prices_2024-01-01.csv", prices(("a", 1, DAY)))
    land(root, "prices_2024-01-03.csv", prices(("a", 1, DAY), ("b", 5, DAY)))
    assert counts(root) == [("loaded", 1, 1, 0), ("loaded", 2, 1, 1)]

    # The 2nd lies between the two files of a=1; the newer one said a=1 still held.
    land(root, "prices_2024-01-02.csv", prices(("a", 2, DAY)))
    assert counts(root) == [("loaded", 1, 0, 1)]
    assert rows(root, "prices", ["sku", "price"]) == [("a", "1"), ("b", "5")]


def test_a_merge_row_with_an_older_time_column_keeps_the_newer(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _late_project(tmp_path, warehouse, "merge", "column:updated")
    land(root, "prices_1.csv", prices(("a", 2, "2024-03-02 10:00:00"), ("b", 7, DAY)))
    assert counts(root) == [("loaded", 2, 2, 0)]

    land(root, "prices_2.csv", prices(("a", 1, "2024-03-01 10:00:00"), ("b", 8, "2024-01-02")))
    assert counts(root) == [("loaded", 2, 1, 1)]
    assert rows(root, "prices", ["sku", "price"]) == [("a", "2"), ("b", "8")]


def test_a_late_file_by_modification_time_keeps_the_newer_merge_row(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _late_project(tmp_path, warehouse, "merge", "file_mtime")
    newer = land(root, "prices_new.csv", prices(("a", 2, DAY)))
    os.utime(newer, (1_700_000_000, 1_700_000_000))
    assert counts(root) == [("loaded", 1, 1, 0)]

    older = land(root, "prices_old.csv", prices(("a", 1, DAY)))
    os.utime(older, (1_600_000_000, 1_600_000_000))
    assert counts(root) == [("loaded", 1, 0, 1)]
    assert rows(root, "prices", ["sku", "price"]) == [("a", "2")]


def test_an_older_snapshot_does_not_replace_a_newer_one(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _late_project(tmp_path, warehouse, "replace", BY_NAME)
    land(root, "prices_2024-01-02.csv", prices(("a", 2, DAY), ("b", 20, DAY)))
    assert counts(root) == [("loaded", 2, 2, 0)]

    land(root, "prices_2024-01-01.csv", prices(("z", 9, DAY)))
    # Recorded as loaded, every row unchanged: the table keeps the newer snapshot.
    assert counts(root) == [("loaded", 1, 0, 1)]
    assert rows(root, "prices", ["sku", "price"]) == [("a", "2"), ("b", "20")]

    land(root, "prices_2024-01-03.csv", prices(("w", 4, DAY)))
    assert counts(root) == [("loaded", 1, 1, 0)]
    assert rows(root, "prices", ["sku", "price"]) == [("w", "4")]


def test_replace_without_an_effective_time_takes_the_last_file(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = _late_project(tmp_path, warehouse, "replace", "run_time")
    land(root, "prices_2024-01-02.csv", prices(("a", 2, DAY)))
    land(root, "prices_2024-01-01.csv", prices(("z", 9, DAY)))
    run(load_project(root))

    assert len(rows(root, "prices", ["sku"])) == 1


def test_init_from_and_run_read_a_cp1252_file_with_mixed_endings(tmp_path: Path) -> None:
    text = '"id";"full\r\nname";"city"\r\n1;"Zoë";"Köln"\n2;"André";"Genève"\r\n3;"Bo";"Malmö"\n'
    sample = tmp_path / "kunden.csv"
    sample.write_bytes(text.encode("cp1252"))
    root = tmp_path / "p"

    draft(root, [sample])
    [file] = run(load_project(root)).files

    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        3,
        3,
        0,
    )
    assert rows(root, "kunden", ["city"]) == [("Genève",), ("Köln",), ("Malmö",)]


NOTES_TARGET = """\
columns:
  id:   {type: integer, required: true}
  body: {type: varchar}
key: [id]
load: append
"""


def test_a_long_field_and_a_deep_json_line_do_not_stop_a_run(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(
        tmp_path / "p",
        warehouse,
        {
            "targets/notes.yml": NOTES_TARGET,
            "sources/notes_csv.yml": 'match: "notes*.csv"\noutputs:\n'
            "  - target: notes\n    columns: {id: id, body: body}\n",
            "sources/notes_json.yml": 'match: "notes*.jsonl"\noutputs:\n'
            "  - target: notes\n    columns: {id: id, body: body}\n",
        },
    )
    big = "x" * (200 * 1024)
    land(root, "notes_1.csv", f'id,body\n1,"{big}"\n2,short\n')
    deep = '{"id": 4, "body": ' + "[" * 10_000 + "]" * 10_000 + "}"
    land(root, "notes_2.jsonl", '{"id": 3, "body": "fine"}\n' + deep + "\n")

    results = sorted(
        (f.name, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined)
        for f in run(load_project(root)).files
    )

    assert results == [
        ("notes_1.csv", "loaded", 2, 2, 0),
        ("notes_2.jsonl", "loaded", 2, 1, 1),
    ]
    with connect(load_project(root)) as wh:
        lengths = wh.execute(
            exp.select(col("id"), exp.func("length", col("body")))
            .from_(table("notes", "core"))
            .order_by(col("id"))
        )
    assert [tuple(int(v) for v in row) for row in lengths] == [(1, len(big)), (2, 5), (3, 4)]
