"""The command line on real projects: in the test's process (tests/command_line.py), and
in a real ``tidegate`` process where the process itself is the subject (the entry point and
its exit codes, a kill, signals)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from tidegate.cli import Column, _fitting, hoist, spread
from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.ledger import RunRecord

from .. import command_line
from ..command_line import runs_finished, wait_until
from ..conftest import SERVED_WAREHOUSES
from ..pipeline.conftest import land, people_csv, project_file, tidegate, write_project

ADA = ("1", "Ada", "ada@example.org", "12/10/1815")
ALAN = ("2", "Alan", "alan@example.org", "06/23/1912")
BAD = ("9", "", "bad", "x")
WIDE = {"COLUMNS": "250"}  # wide enough that no cell wraps: the assertions see whole values

CRM_TARGET = """\
columns:
  id:   {type: integer, required: true}
  code: {type: varchar, pattern: '^[a-z]+$'}
key: [id]
load: append
"""
CRM_SOURCE = """\
match: "crm_*.csv"
outputs:
  - target: crm
    columns:
      id: '"id"'
      code: '"code"'
"""


def new_project(root: Path, warehouse: Callable[[], str] | None = None) -> Path:
    files = {"targets/crm.yml": CRM_TARGET, "sources/crm.yml": CRM_SOURCE}
    if warehouse is not None:
        files["tidegate.yml"] = project_file(warehouse())
    return write_project(root, files)


def ledger_runs(root: Path) -> list[RunRecord]:
    with connect(load_project(root)) as wh:
        ledger.ensure(wh)
        return ledger.list_runs(wh, 100)


# --------------------------------------------------------------------------- printing


def test_hostile_values_are_printed_as_they_are(tmp_path: Path) -> None:
    root = new_project(tmp_path / "p")
    land(root, "crm_[red]x.csv", "id,code\n1,abc\n2,[/x]\n")
    loaded = tidegate(root, "run", env=WIDE)
    assert loaded.returncode == 0, loaded.stderr
    assert "crm_[red]x.csv" in loaded.stdout
    listed = tidegate(root, "files", env=WIDE)
    assert listed.returncode == 0, listed.stderr
    assert "crm_[red]x.csv" in listed.stdout
    shown = tidegate(root, "quarantine", env=WIDE)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    assert "code='[/x]': does not match the pattern ^[a-z]+$" in shown.stdout
    assert "does not match the pattern ^[a-z]+$" in shown.stdout.split("first 1 rows")[0]


def test_a_rejected_file_with_markup_in_its_name_is_named_whole(tmp_path: Path) -> None:
    root = new_project(tmp_path / "p")
    land(root, "[bold]stray[/].txt", "hello\n")
    done = tidegate(root, "run", env=WIDE, in_process=False)  # the process exits with 1
    assert done.returncode == 1
    assert "[bold]stray[/].txt" in done.stdout
    assert "rejected [bold]stray[/].txt: matches no source" in done.stderr


def test_the_demo_tables_show_whole_file_names_at_80_columns(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    assert tidegate(None, "init", str(root)).returncode == 0
    names = sorted(p.name for p in (root / "landing").iterdir())
    narrow = {"COLUMNS": "80"}
    for command in ("run", "files", "status", "runs"):
        done = tidegate(root, command, env=narrow)
        assert done.returncode == 0, done.stderr
        assert max(len(line) for line in done.stdout.splitlines()) <= 80, done.stdout
        if command in ("run", "files"):
            assert all(name in done.stdout for name in names), done.stdout
            assert "…" not in done.stdout


def test_narrow_tables_leave_out_optional_columns_empty_ones_first() -> None:
    columns = [Column("file", wrap=True), Column("a", drop=1), Column("b", drop=2), Column("c")]
    rows = [["x" * 20, "5", "0", "y"], ["z", "7", "0", "y"]]
    assert _fitting(columns, rows, 200) == [0, 1, 2, 3]
    assert _fitting(columns, rows, 26) == [0, 1, 3]  # b is empty: it goes first
    assert _fitting(columns, rows, 24) == [0, 3]
    assert _fitting(columns, rows, 5) == [0, 3]  # what must stay, stays (and wraps)


# --------------------------------------------------------------------------- options


def test_version_prints_the_version() -> None:
    from tidegate import __version__

    done = tidegate(None, "--version", in_process=False)  # the entry point itself
    assert (done.returncode, done.stdout.strip()) == (0, f"tidegate {__version__}")


def test_help_shows_flags_without_a_value_type() -> None:
    for args in (["run", "--help"], ["--help"], ["quarantine", "--help"]):
        done = tidegate(None, *args, env=WIDE)
        assert done.returncode == 0, done.stderr
        assert "--json" in done.stdout or "--debug" in done.stdout
        assert "<bool>" not in done.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command_keeps_the_exit_code(tmp_path: Path, where: str) -> None:
    root = write_project(tmp_path / "p", {"targets/people.yml": "columns: {id: {type: nope}}\n"})
    args = ["--debug", "check"] if where == "before" else ["check", "--debug"]
    done = tidegate(root, *args, in_process=False)  # the process's own exit code
    assert done.returncode == 2, done.stderr
    assert "Traceback" in done.stderr
    assert "error: " in done.stderr and "targets/people.yml" in done.stderr
    plain = tidegate(root, "check")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_debug_after_the_command_on_a_good_run(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    land(root, "people_1.csv", people_csv(ADA))
    done = tidegate(root, "run", "--json", "--debug")
    assert done.returncode == 0, done.stderr
    assert [f["status"] for f in json.loads(done.stdout)["files"]] == ["loaded"]


@pytest.mark.parametrize(
    "order",
    [
        ["{root}", "--from", "{a}", "{b}"],  # the README's form
        ["--from", "{a}", "{b}", "{root}"],
        ["{root}", "--from", "{a}", "--from", "{b}"],
        ["{root}", "--from={a}", "{b}", "--force"],
    ],
)
def test_init_from_takes_several_files_after_one_flag(tmp_path: Path, order: list[str]) -> None:
    data = tmp_path / "incoming"
    data.mkdir()
    a, b = data / "orders.csv", data / "customers.jsonl"
    a.write_text("Order ID,Amount\n1,9.50\n2,3\n", encoding="utf-8")
    b.write_text('{"id": "c1"}\n{"id": "c2"}\n', encoding="utf-8")
    root = tmp_path / "drafted"
    args = [part.format(root=root, a=a, b=b) for part in order]
    done = tidegate(None, "init", *args)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (root / "targets").iterdir()) == ["customers.yml", "orders.yml"]


def test_spread_leaves_other_options_and_arguments_alone() -> None:
    import typer.main

    from tidegate.cli import app

    params = typer.main.get_command(app).commands["init"].params  # type: ignore[attr-defined]
    assert spread(["p", "--from", "a", "b", "--force"], params) == [
        *("p", "--from", "a", "--from", "b", "--force"),
    ]
    assert spread(["--example", "001", "p"], params) == ["--example", "001", "p"]
    assert spread(["--from", "a", "b", "p", "--example", "001"], params) == [
        *("--from", "a", "--from", "b", "p", "--example", "001"),
    ]
    assert spread(["p", "--from", "a", "--", "-odd"], params) == [
        *("p", "--from", "a", "--", "-odd"),
    ]
    assert hoist(["run", "--debug", "--", "--debug"], ["--debug"]) == [
        *("--debug", "run", "--", "--debug"),
    ]


# --------------------------------------------------------------------------- unknown names


def test_unknown_rule_file_source_or_status_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    root = new_project(tmp_path / "p")
    land(root, "crm_1.csv", "id,code\n1,abc\n2,ABC\n")
    assert tidegate(root, "run").returncode == 0
    file_id = json.loads(tidegate(root, "files", "--json").stdout)[0]["file_id"]
    cases = [
        (["quarantine", "--rule", "nope"], "--rule: no rule 'nope'; rules: type, required,"),
        (["quarantine", "--source", "nope"], "--source: no source 'nope'; sources: crm, people"),
        (
            ["quarantine", "--file", "nope"],
            f"--file: no file 'nope'; files with rows in quarantine: {file_id}",
        ),
        (["replay", "--file", "nope"], f"no file 'nope'; files with rows to replay: {file_id}"),
        (
            ["files", "--status", "bogus"],
            "--status: no status 'bogus'; statuses: loaded, rejected, failed, duplicate",
        ),
    ]
    for args, message in cases:
        done = tidegate(root, *args, env=WIDE)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    known = tidegate(root, "quarantine", "--rule", "pattern", "--json")
    assert (known.returncode, json.loads(known.stdout)["total"]) == (0, 1)
    nothing = tidegate(root, "quarantine", "--rule", "required", "--file", file_id)
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "the quarantine is empty")


# --------------------------------------------------------------------------- the ledger


def test_runs_shows_how_long_each_run_took(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    land(root, "people_1.csv", people_csv(ADA))
    assert tidegate(root, "run").returncode == 0
    listed = json.loads(tidegate(root, "runs", "--json").stdout)
    assert len(listed) == 1 and listed[0]["duration_seconds"] >= 0
    shown = tidegate(root, "runs", env=WIDE).stdout
    assert re.search(r"\bok\s+\d+(\.\d)?s\s+1 loaded", shown), shown
    assert listed[0]["run_id"][:8] in shown


def test_a_run_over_an_empty_landing_records_no_run(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    project = load_project(root)
    assert run(project).files == []
    assert ledger_runs(root) == []
    land(root, "people_1.csv", people_csv(ADA))
    assert [f.status for f in run(project).files] == ["loaded"]
    assert run(project).files == []
    assert [(r.status, r.files_loaded) for r in ledger_runs(root)] == [("ok", 1)]


def test_watch_records_only_the_runs_that_loaded_something(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    (root / "landing").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "tidegate.cli", "watch", "--json", "--heartbeat", "0.1"]
    watcher = subprocess.Popen(
        [*command, "--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: runs_finished(root) >= 3, "several idle heartbeats")
        hidden = land(root, ".people_1.csv.part", people_csv(ADA))
        hidden.rename(root / "landing" / "people_1.csv")  # arrives whole
        arrived = root / "landing" / "people_1.csv"
        wait_until(lambda: not arrived.exists(), "the file is loaded")
        after = runs_finished(root)
        wait_until(lambda: runs_finished(root) >= after + 3, "more idle heartbeats after it")
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert [(r.status, r.files_loaded) for r in ledger_runs(root)] == [("ok", 1)]


FAILING_SOURCE = """\
match: "people*.csv"
outputs:
  - target: people
    columns:
      id: '"ID"'
      name: 'no_such_function("Full Name")'
"""


def test_status_counts_a_failed_then_loaded_file_once_and_shows_the_quarantine(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = write_project(
        tmp_path / "p",
        {"tidegate.yml": project_file(warehouse()), "sources/people.yml": FAILING_SOURCE},
    )
    land(root, "people_1.csv", people_csv(ADA, BAD))
    failed = tidegate(root, "run", "--json")
    assert [f["status"] for f in json.loads(failed.stdout)["files"]] == ["failed"], failed.stderr
    write_project(root, {"tidegate.yml": (root / "tidegate.yml").read_text()})
    again = tidegate(root, "run", "--json")
    assert [f["status"] for f in json.loads(again.stdout)["files"]] == ["loaded"], again.stderr
    summary = json.loads(tidegate(root, "status", "--json").stdout)
    assert summary["statuses"] == {
        "loaded": {"files": 1, "rows_read": 2, "rows_loaded": 1, "rows_quarantined": 1}
    }
    people = summary["sources"]["people"]
    assert (people["files_loaded"], people["files_failed"]) == (1, 0)
    assert (people["rows_loaded"], people["rows_in_quarantine"]) == (1, 1)
    shown = tidegate(root, "status", env=WIDE).stdout
    assert "failed" not in shown.split("by source")[0]
    assert re.search(r"people\s+1\s+1\s+1\b", shown), shown


def test_a_killed_run_is_marked_interrupted_by_the_next(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = write_project(tmp_path / "p", {"tidegate.yml": project_file(warehouse())})
    land(root, "people_1.csv", people_csv(ADA))
    land(root, "people_2.csv", people_csv(ALAN))
    killed = tidegate(root, "run", env={"TIDEGATE_FAULT": "committed:2"})
    assert killed.returncode == -9, killed.stderr
    [left] = ledger_runs(root)
    assert left.status == "running"
    assert tidegate(root, "run").returncode == 0
    by_id = {r.run_id: r for r in ledger_runs(root)}
    assert (by_id[left.run_id].status, by_id[left.run_id].files_loaded) == ("interrupted", 2)
    assert by_id[left.run_id].finished_at is None
    assert "interrupted" in tidegate(root, "runs", env=WIDE).stdout


@pytest.mark.parametrize("kind", SERVED_WAREHOUSES)
def test_a_concurrent_live_run_is_not_marked_interrupted(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    if kind == "postgres":
        url = request.getfixturevalue("postgres_db_url")
        line = f'warehouse: {{type: postgres, url: "{url}"}}'
    else:
        line = "warehouse: {type: sqlite, path: warehouse.sqlite}"
    root = write_project(tmp_path / "p", {"tidegate.yml": project_file(line)})
    land(root, "people_1.csv", people_csv(ADA))
    with connect(load_project(root)) as live:  # another run, alive while this one runs
        ledger.ensure(live)
        ledger.start_run(live, RunRecord("alive", datetime(2026, 1, 1), version="x"))
        assert tidegate(root, "run").returncode == 0
        assert {r.run_id: r.status for r in ledger_runs(root)}["alive"] == "running"
    land(root, "people_2.csv", people_csv(ALAN))  # its process is gone now
    assert tidegate(root, "run").returncode == 0
    assert {r.run_id: r.status for r in ledger_runs(root)}["alive"] == "interrupted"


def test_a_run_with_nothing_to_do_still_marks_dead_runs(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    land(root, "people_1.csv", people_csv(ADA))
    env = {**os.environ, "TIDEGATE_FAULT": "read:1"}
    killed = tidegate(root, "run", env=env)
    assert killed.returncode == -9
    (root / "landing" / "people_1.csv").unlink()
    assert tidegate(root, "run").returncode == 0
    assert [r.status for r in ledger_runs(root)] == ["interrupted"]


def test_every_rule_a_column_check_can_name_is_a_known_rule() -> None:
    from tidegate.config.models import ColumnSpec
    from tidegate.transform.rules import RULES, failures

    spec = ColumnSpec.model_validate(
        {
            **{"type": "varchar", "required": True, "pattern": "^1$", "allowed": ["1"]},
            **{"min": "0", "max": "9", "length": 3, "min_length": 1, "check": "x > 0"},
        }
    )
    # a text column's cast cannot fail: the type rule is a typed column's
    typed = ColumnSpec.model_validate({"type": "integer"})
    found = {failure.rule for failure in failures({"x": spec, "n": typed})}
    assert found | {"reference", "duplicate", "read"} == set(RULES)


def test_watch_prints_a_time_on_every_line(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    (root / "landing").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "tidegate.cli", "watch", "--heartbeat", "0.1"]
    watcher = subprocess.Popen(
        [*command, "--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        hidden = land(root, ".people_1.csv.part", people_csv(ADA))
        hidden.rename(root / "landing" / "people_1.csv")
        arrived = root / "landing" / "people_1.csv"
        wait_until(lambda: not arrived.exists(), "the file is loaded")
        after = runs_finished(root)
        wait_until(lambda: runs_finished(root) >= after + 1, "the load's run is finished")
    finally:
        watcher.send_signal(signal.SIGTERM)
        printed, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    lines = [line for line in (printed + err).splitlines() if line.strip()]
    assert any("loaded people_1.csv people" in line for line in lines), lines
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
    assert lines and all(stamp.match(line) for line in lines), lines


# --------------------------------------------------------------------------- in process


def test_a_command_in_process_prints_and_exits_as_the_real_process(tmp_path: Path) -> None:
    """The suite runs the command line in its own process (tests/command_line.py): the same
    exit code, stdout and stderr as ``tidegate`` in a process of its own, at the width of
    ``COLUMNS``, literal markup, errors and tracebacks included."""
    bad = write_project(tmp_path / "bad", {"targets/people.yml": "columns: {id: {type: nope}}\n"})
    twins = []
    for twin in ("here", "alone"):  # a run changes its project: one each
        root = new_project(tmp_path / twin)
        land(root, "[bold]stray[/].txt", "hello\n")
        land(root, "crm_1.csv", "id,code\n1,abc\n2,[/x]\n")
        twins.append(["run", "--project", str(root)])
    calls = [
        (["--version"], ["--version"], {}),
        (["--help"], ["--help"], {"COLUMNS": "70"}),
        (["check", "--project", str(bad)], ["check", "--project", str(bad)], {}),
        (["check", "--debug", "--project", str(bad)], ["check", "--debug", "-p", str(bad)], {}),
        (twins[0], twins[1], {"COLUMNS": "60"}),
    ]
    for here_argv, alone_argv, env in calls:
        here = command_line.tidegate_in_process(here_argv, env)
        alone = command_line.tidegate_process(alone_argv, env)
        assert here.returncode == alone.returncode, here_argv
        assert here.stdout == alone.stdout, here_argv
        assert here.stderr == alone.stderr, here_argv
