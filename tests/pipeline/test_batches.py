"""Small files of one source load together (``microbatch.py``): the same outcome as the
same files loaded one by one, on every warehouse."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from tidegate.config import load_project
from tidegate.pipeline import FileResult, run
from tidegate.sql import col, table
from tidegate.warehouse import connect

from .conftest import (
    PEOPLE_SCD2_TARGET,
    PEOPLE_TARGET,
    land,
    people_csv,
    project_file,
    snapshot,
    tidegate,
    write_project,
)

EVENTS_TARGET = r"""
columns:
  event_id: {type: bigint, required: true}
  kind:     {type: varchar, allowed: [new, paid]}
  amount:   {type: "decimal(8,2)", min: 0}
  day:      {type: date, required: true}
  file:     {type: varchar}
key: [event_id]
load: append
reject_file_over: 50%
"""

EVENTS_SOURCE = """
match: "events*.jsonl.gz"
format: jsonl
outputs:
  - target: events
    columns:
      event_id: event_id
      kind: lower(kind)
      amount: amount
      day: _file.day
      file: _file.name
"""


def new_project(root: Path, warehouse: Callable[[], str], alone: bool, **files: str) -> Path:
    """A project whose files load in batches, or (``alone``) one by one."""
    settings = project_file(warehouse()) + ("batch_files: 1\n" if alone else "")
    contents = {"tidegate.yml": settings, "targets/events.yml": EVENTS_TARGET}
    contents |= {"sources/events.yml": EVENTS_SOURCE, **files}
    return write_project(root, contents)


def land_events(root: Path, name: str, *records: dict[str, Any] | str) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path = root / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


def folder(day: int) -> str:
    return f"day=2024-01-{day:02}"


def event(n: int, kind: str = "new", amount: str = "1.50") -> dict[str, Any]:
    return {"event_id": n, "kind": kind, "amount": amount}


def land_many(root: Path) -> None:
    """Events of several days (one with a bad row, one with a key twice, one a key of
    another file), and people files (one with a bad row, one with an extra column)."""
    for day in range(1, 7):
        records: list[dict[str, Any]] = [event(day * 10 + n) for n in range(3)]
        if day == 2:
            records.append(event(29, kind="lost"))
        if day == 3:
            records.append(event(30, amount="2.00"))  # a key twice in one file
        if day == 4:
            records.append(event(10))  # a key of another file: not a duplicate
        land_events(root, f"{folder(day)}/events.jsonl.gz", *records)
    land(root, "people_1.csv", people_csv(("1", "Ada", "ada@x.org", "12/10/1815")))
    land(root, "people_2.csv", people_csv(("2", "Alan", "alan@x.org", "x"), ("3", "", "", "")))
    extra = "ID,Full Name,E-mail,Born,Team\n4,Grace,g@x.org,12/09/1906,navy\n"
    land(root, "people_3.csv", extra)
    land(root, "people_4.csv", people_csv(("5", "Edsger", "e@x.org", "05/11/1930")))


RUN_TIMES = ("_loaded_at", "_valid_from", "_valid_to")  # when the run happened to load


def table_rows(root: Path, schema: str, name: str) -> list[tuple[str, ...]]:
    with connect(load_project(root)) as wh:
        columns = [c for c in wh.columns_of(name, schema) or [] if c not in RUN_TIMES]
        if not columns:
            return []
        found = wh.execute(exp.select(*[col(c) for c in columns]).from_(table(name, schema)))
    return sorted(tuple(str(v) for v in row) for row in found)


def outcome(root: Path) -> dict[str, Any]:
    """What a run left (times and run ids aside), the events tables included."""
    state = snapshot(root)
    state["core.people"] = table_rows(root, "core", "people")  # history times aside
    state["core.events"] = table_rows(root, "core", "events")
    state["raw.events"] = table_rows(root, "raw", "events")
    return state


def loads_at(root: Path, name: str) -> int:
    """How many distinct load times a target's rows have: one per transaction."""
    with connect(load_project(root)) as wh:
        query = exp.select(exp.Count(this=exp.Distinct(expressions=[col("_loaded_at")])))
        return int(wh.scalar(query.from_(table(name, wh.schemas.core))) or 0)


def ran(root: Path) -> list[tuple[Any, ...]]:
    """Each file's path, status, counts, new columns and error, as the run reports them."""
    return [
        (f.path, f.status, *counted(f), tuple(f.new_columns), f.error)
        for f in run(load_project(root)).files
    ]


def counted(f: FileResult) -> tuple[int, ...]:
    return (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate)


def test_a_batch_equals_the_same_files_loaded_one_by_one(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    together = new_project(tmp_path / "together", warehouse, alone=False)
    alone = new_project(tmp_path / "alone", warehouse, alone=True)
    for root in (together, alone):
        land_many(root)
    results = ran(together)
    assert results == ran(alone)
    assert {status for _, status, *_ in results} == {"loaded"}
    by_path = {path: rest for path, _, *rest in results}
    assert by_path[f"{folder(2)}/events.jsonl.gz"][:4] == [4, 3, 1, 0]
    assert by_path[f"{folder(3)}/events.jsonl.gz"][:4] == [4, 3, 1, 0]  # the later 30 quarantined
    assert by_path[f"{folder(4)}/events.jsonl.gz"][:4] == [4, 4, 0, 0]
    assert by_path["people_3.csv"][4] == ("Team",)
    assert outcome(together) == outcome(alone)
    assert loads_at(together, "events") == 1  # one transaction for the six files
    assert loads_at(alone, "events") == 6
    reasons = table_rows(together, "tidegate", "quarantine")
    assert any("first seen at row 1" in str(row) for row in reasons)


def test_a_hostile_file_in_a_batch_is_rejected_and_the_others_load(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    def prepared(name: str, alone: bool) -> Path:
        root = new_project(tmp_path / name, warehouse, alone)
        land_events(root, f"{folder(1)}/events.jsonl.gz", event(1), event(2))
        path = root / "landing" / folder(2) / "events.jsonl.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\x1f\x8b not really gzip")  # unreadable
        land_events(root, f"{folder(3)}/events.jsonl.gz", event(3, "lost"), event(4, "lost"))
        land_events(root, f"{folder(4)}/events.jsonl.gz", {"id": 5})  # no mapped column
        land_events(root, f"{folder(5)}/events.jsonl.gz", event(6), "not json", event(7))
        land_events(root, f"{folder(6)}/events.jsonl.gz", event(8))
        return root

    together, alone = prepared("together", False), prepared("alone", True)
    results = ran(together)
    assert results == ran(alone)
    statuses = {path.split("/")[0]: status for path, status, *_ in results}
    assert statuses == {
        folder(1): "loaded",
        folder(2): "rejected",
        folder(3): "rejected",  # over reject_file_over
        folder(4): "rejected",
        folder(5): "loaded",  # its unreadable line quarantined
        folder(6): "loaded",
    }
    state = outcome(together)
    assert state == outcome(alone)
    assert [row[0] for row in state["core.events"]] == ["1", "2", "6", "7", "8"]
    rejected = sorted(
        p.relative_to(together / "rejected").as_posix().split("/")[0]
        for p in (together / "rejected").rglob("*.reason.txt")
    )
    assert rejected == [folder(2), folder(3), folder(4)]
    assert state["landing"] == {}


def test_a_file_of_a_batch_that_cannot_be_read_is_logged_as_alone(tmp_path: Path) -> None:
    """Its read is a step of the log, then its ending, whether it came in a batch or not."""

    def steps(alone: bool) -> list[tuple[object, ...]]:
        duckdb = "warehouse: {type: duckdb, path: warehouse.duckdb}"
        root = new_project(tmp_path / str(alone), lambda: duckdb, alone)
        land_events(root, f"{folder(1)}/events.jsonl.gz", event(1))
        broken = root / "landing" / folder(2) / "events.jsonl.gz"
        broken.parent.mkdir(parents=True)
        broken.write_bytes(b"\x1f\x8b not really gzip")
        assert tidegate(root, "run").returncode == 1
        log = (root / ".tidegate" / "logs" / "tidegate.log").read_text(encoding="utf-8")
        events = [json.loads(line) for line in log.splitlines()]
        return [
            (e["file"], e["event"]) for e in events if str(e.get("file", "")).startswith("day=")
        ]

    together = steps(alone=False)
    assert [event for file, event in together if file.startswith(folder(2))] == [
        "discovered",
        "read",
        "rejected",
    ]
    assert sorted(together) == sorted(steps(alone=True))


def land_bytes(root: Path, name: str, data: bytes) -> None:
    path = root / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0))


ODD_LINES: list[bytes] = [
    b'{"event_id": 1, "kind": "new", "amount": "1.50"}\n{"event_id": 2, "kind": "paid", "amount": 2}\n',
    # blank lines, whitespace, CRLF line ends
    b'\r\n{"event_id": 3, "kind": "new", "amount": "0"}\r\n  \r\n\t\r\n'
    b'{"event_id": 4, "kind": "new", "amount": "0"}\r\n\r\n',
    b'{"event_id": 5, "kind": "new", "amount": "1", "kind": "paid"}\n',  # a key twice
    b'\xef\xbb\xbf{"event_id": 6, "kind": "new", "amount": "1"}\n',  # a byte order mark
    # bad lines: this file is read alone, and combined with the others
    b'{"event_id": 7, "kind": "new", "amount": "1"}\n[1, 2]\n{"event_id": 8, "kind": "new", '
    b'"amount": 1}\n{"event_id": 9, "kind": "new", "amount": 1}\n{"event_id": 10',
    b'{"event_id": 11, "kind": "new", "amount": "1"}\n',
    # another key order, a nested value, a number as DuckDB renders it
    b'{"amount": 1.50, "kind": "new", "event_id": 12, "tags": {"a": [1, 2]}}\n'
    b'{"event_id": 13, "kind": "new", "amount": 1e3, "tags": null}\n',
    b'{"kind": "new", "event_id": 14, "amount": "1", "tags": {"b": 1}}\n',
    '{"event_id": 15, "kind": "new", "amount": "1", "note": "caf\u00e9"}\n'.encode("latin-1"),
    b'{"event_id": 16, "kind": "new", "amount": NaN}\n',
    b"\n  \n",  # no record
    b'{"event_id": 17, "kind": "new", "amount": "1", "s": "\\ud83d\\ude00"}\n',  # a surrogate pair
    b'{"event_id": 18, "kind": "new", "amount": "1"}\r{"event_id": 19, "kind": "new"}\n',
    b'{"event_id": 20, "kind": "new", "amount": "1", "deep": ' + b"[" * 600 + b"]" * 600 + b"}\n",
    # two key lists that give the same column names
    b'{"event_id": 21, "kind": "new", "amount": "1", "": 1}\n',
    b'{"event_id": 22, "kind": "new", "amount": "1", "column_4": 2}\n',
]


def test_json_lines_read_together_equal_each_file_read_alone(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    """The JSON Lines files of a batch are checked and read in one go: every kind of line
    (odd keys, encodings, line ends, bad lines, no records) gives what one file's read gives."""

    def prepared(name: str, alone: bool) -> Path:
        root = new_project(tmp_path / name, warehouse, alone)
        for day, data in enumerate(ODD_LINES, start=1):
            land_bytes(root, f"{folder(day)}/events.jsonl.gz", data)
        return root

    together, alone = prepared("together", False), prepared("alone", True)
    results = ran(together)
    assert results == ran(alone)
    assert outcome(together) == outcome(alone)
    statuses = {path.split("/")[0]: status for path, status, *_ in results}
    assert statuses[folder(11)] == "rejected"  # no record
    assert all(statuses[folder(day)] == "loaded" for day in range(1, 7))
    assert loads_at(together, "events") < loads_at(alone, "events")
    quarantined = {path.split("/")[0]: counts[2] for path, _, *counts in results}
    assert quarantined[folder(5)] == 2  # an array, half an object
    assert {row[0] for row in outcome(together)["core.events"]} >= {"1", "3", "5", "8", "21", "22"}


BATCH_FAULTS = ["read:3", "commit:1", "committed:1", "archived:2", "archived:5"]


@pytest.mark.parametrize("fault", BATCH_FAULTS)
def test_a_run_killed_in_a_batch_and_a_rerun_equal_one_clean_run(
    tmp_path: Path, warehouse: Callable[[], str], fault: str
) -> None:
    def prepared(name: str) -> Path:
        root = new_project(tmp_path / name, warehouse, alone=False)
        land_many(root)
        land_events(root, f"{folder(9)}/events.jsonl.gz", event(10))  # a copy of day=01's content
        copy = (root / "landing" / folder(1) / "events.jsonl.gz").read_bytes()
        (root / "landing" / folder(9) / "events.jsonl.gz").write_bytes(copy)
        return root

    clean = prepared("clean")
    assert tidegate(clean, "run").returncode == 0
    crashed = prepared("crashed")
    killed = tidegate(crashed, "run", env={"TIDEGATE_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    rerun = tidegate(crashed, "run")
    assert rerun.returncode == 0, rerun.stderr
    assert outcome(crashed) == outcome(clean)


@pytest.mark.parametrize("load", ["scd2", "replace", "merge"])
def test_history_and_snapshots_follow_landing_order_as_one_by_one(
    tmp_path: Path, warehouse: Callable[[], str], load: str
) -> None:
    """Modes whose result depends on the files before them load each file alone, in
    landing order, whatever the batch size."""
    target = PEOPLE_SCD2_TARGET if load == "scd2" else PEOPLE_TARGET.replace("append", load)

    def loaded(name: str, alone: bool) -> Path:
        root = new_project(tmp_path / name, warehouse, alone, **{"targets/people.yml": target})
        for n, who in enumerate(["Ada", "Ada L", "Ada King", "Ada Lovelace"], start=1):
            rows = [("1", who, "ada@x.org", "12/10/1815"), (str(n + 1), f"P{n}", "", "")]
            land(root, f"people_{n}.csv", people_csv(*rows))
        assert {status for _, status, *_ in ran(root)} == {"loaded"}
        return root

    together, alone = loaded("together", False), loaded("alone", True)
    assert outcome(together) == outcome(alone)
    if load == "scd2":  # every version, in landing order
        for root in (together, alone):
            assert versions(root) == ["Ada", "Ada L", "Ada King", "Ada Lovelace"]
    else:
        names = [row[1] for row in table_rows(together, "core", "people") if row[0] == "1"]
        assert names == ["Ada Lovelace"]
    assert loads_at(together, "people") == loads_at(alone, "people")


def versions(root: Path) -> list[str]:
    """The names of person 1 in the order of their history."""
    with connect(load_project(root)) as wh:
        query = exp.select(col("name")).from_(table("people", wh.schemas.core))
        query = query.where(col("id").eq(1)).order_by(col("_valid_from"))
        return [str(name) for (name,) in wh.execute(query)]


def test_keys_that_differ_only_in_case_load_on_every_warehouse(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    """``kind``, ``Kind`` and ``KIND`` are three columns of the raw layer, whether the file
    is read alone or with others, on warehouses whose names fold case and those that keep it."""
    for alone in (True, False):
        root = new_project(tmp_path / str(alone), warehouse, alone)
        land_events(root, f"{folder(1)}/events.jsonl.gz", {**event(1), "Kind": "x", "KIND": 2})
        land_events(root, f"{folder(2)}/events.jsonl.gz", event(2))
        results = ran(root)
        assert [status for _, status, *_ in results] == ["loaded", "loaded"], results
        state = outcome(root)
        assert [row[:2] for row in state["core.events"]] == [("1", "new"), ("2", "new")]
        assert any({"new", "x", "2"} <= {str(v) for v in row} for row in state["raw.events"])
