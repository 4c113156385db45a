"""A command starts without the engines: the heavy modules are imported where needed.

Module sets, not timings: what ``import tidegate.cli`` (the ``tidegate`` script),
``import tidegate.commands`` (every command but a kept ``--help``) and ``import
tidegate.log`` (every command that reads a project) leave in ``sys.modules``; what
``tidegate --help`` imports once its text is kept, and what a run that finds nothing to
do imports. ``--help`` from the kept text is typer's own text, byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tidegate import __version__

from . import command_line

HEAVY = ("duckdb", "pyarrow", "sqlglot", "httpx", "dagster", "psycopg")
TERMINAL = ("typer", "click", "rich", "pydantic", "yaml")  # what rendering help costs

# The ``tidegate`` script, in a process that tells which modules it imported when it ends.
SCRIPT = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'\\nMODULES ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules}))))\n"
    "sys.argv = ['tidegate', *sys.argv[1:]]\n"
    "from tidegate.cli import main\n"
    "main()\n"
)


def _imported(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", ["tidegate.commands", "tidegate.log", "tidegate.config"])
def test_importing_does_not_load_an_engine(module: str) -> None:
    assert _imported(module) & set(HEAVY) == set()


def test_the_script_imports_nothing_heavy_before_it_reads_its_arguments() -> None:
    assert _imported("tidegate.cli") & {*HEAVY, *TERMINAL} == set()


def tidegate(
    args: list[str], cache: Path, cwd: Path | None = None, **env: str
) -> tuple[int, str, set[str]]:
    """Exit code, stdout and the top-level modules imported, of ``tidegate ARGS``."""
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache), **env}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
    )
    _, _, modules = done.stderr.rpartition("\nMODULES ")
    assert modules, done.stderr
    return done.returncode, done.stdout, set(json.loads(modules))


@pytest.mark.parametrize(
    ("args", "columns"),
    [
        (["--help"], "80"),
        (["--help"], "52"),
        (["--help"], "160"),
        (["run", "--help"], "80"),
        (["export", "dbt", "--help"], "100"),
    ],
)
def test_help_is_typers_text_without_typer(args: list[str], columns: str, tmp_path: Path) -> None:
    first = tidegate(args, tmp_path, COLUMNS=columns)  # nothing kept yet: typer renders it
    again = tidegate(args, tmp_path, COLUMNS=columns)
    assert first[0] == again[0] == 0
    assert "Usage: tidegate" in first[1]
    assert again[1] == first[1]
    assert {"typer", "rich"} <= first[2]
    assert again[2] & {*HEAVY, *TERMINAL} == set()


def test_help_of_another_terminal_is_rendered_for_it(tmp_path: Path) -> None:
    narrow = tidegate(["--help"], tmp_path, COLUMNS="60")
    wide = tidegate(["--help"], tmp_path, COLUMNS="120")
    assert "typer" in wide[2]  # not the 60-column text
    assert max(len(line) for line in narrow[1].splitlines()) <= 60
    assert max(len(line) for line in wide[1].splitlines()) > 60
    assert tidegate(["--help"], tmp_path, COLUMNS="60")[1] == narrow[1]


@pytest.mark.parametrize("args", [["bogus", "--help"], ["run", "--json", "--help"], []])
def test_anything_but_help_is_typers_every_time(args: list[str], tmp_path: Path) -> None:
    first = tidegate(args, tmp_path)
    again = tidegate(args, tmp_path)
    assert again[0] == first[0]
    assert again[1] == first[1]
    assert "typer" in again[2]


def _empty_project(tmp_path: Path) -> tuple[Path, tuple[int, str, set[str]]]:
    """An example project whose landing is empty, and its first run (a whole one)."""
    root = tmp_path / "p"
    code, _, _ = tidegate(["init", str(root)], tmp_path / "cache")
    assert code == 0
    for landed in (root / "landing").iterdir():
        landed.unlink()
    return root, tidegate(["run", "-p", str(root)], tmp_path / "cache")


def test_a_run_with_nothing_to_do_imports_no_engine_no_parser_and_no_typer(
    tmp_path: Path,
) -> None:
    root, first = _empty_project(tmp_path)  # creates the warehouse
    again = tidegate(["run", "-p", str(root), "--json"], tmp_path / "cache")
    assert first[0] == again[0] == 0
    assert "nothing new in landing" in first[1]
    assert json.loads(again[1])["files"] == []
    assert {"duckdb", "sqlglot", "typer"} <= first[2]
    assert again[2] & {*HEAVY, *TERMINAL} == set()  # not even the project is loaded
    options = ["--debug", "--log-level", "debug", "run", "--project", str(root), "--debug"]
    assert tidegate(options, tmp_path / "cache")[2] & {*HEAVY, *TERMINAL} == set()

    with (root / "tidegate.yml").open("a", encoding="utf-8") as settings:
        settings.write("# the same configuration, in other files\n")
    loaded = tidegate(["run", "-p", str(root)], tmp_path / "cache")
    assert (loaded[0], loaded[1]) == (0, "nothing new in landing\n")
    assert {"pydantic", "yaml"} <= loaded[2]
    assert loaded[2] & {*HEAVY, "typer", "click", "rich"} == set()
    assert tidegate(["run", "-p", str(root)], tmp_path / "cache")[2] & {*HEAVY, *TERMINAL} == set()


def test_an_empty_run_is_told_as_the_typer_command_tells_it(tmp_path: Path) -> None:
    root, _ = _empty_project(tmp_path)
    for options in ([], ["--json"]):
        args = ["run", "-p", str(root), *options]
        quick = tidegate(args, tmp_path / "cache")
        typers = command_line.tidegate_in_process(args)
        assert "typer" not in quick[2]
        assert (quick[0], _without_run_id(quick[1])) == (0, _without_run_id(typers.stdout))
        assert typers.returncode == 0


def _without_run_id(text: str) -> str:
    return re.sub(r'"run_id": "[0-9a-f]+"', '"run_id": ""', text)


def test_a_broken_expression_still_stops_an_empty_run(tmp_path: Path) -> None:
    """Expressions known to parse are not parsed again; a broken one is told every time."""
    root, _ = _empty_project(tmp_path)
    source = root / "sources" / "texas.yml"
    good = source.read_text(encoding="utf-8")
    source.write_text(good + 'derive:\n  broken: upper(("City"\n', encoding="utf-8")
    args = ["run", "-p", str(root)]
    told = [command_line.tidegate_process(args) for _ in range(2)]
    (root / ".tidegate" / "parsed.json").unlink()  # nothing known: everything parsed
    told.append(command_line.tidegate_process(args))
    assert [done.returncode for done in told] == [2, 2, 2]
    assert len({done.stderr for done in told}) == 1
    assert "invalid SQL in derive.broken" in told[0].stderr
    source.write_text(good, encoding="utf-8")
    assert tidegate(["run", "-p", str(root)], tmp_path / "cache")[0] == 0
    assert "sqlglot" not in tidegate(["run", "-p", str(root)], tmp_path / "cache")[2]


def test_the_version_is_told_without_typer(tmp_path: Path) -> None:
    code, out, modules = tidegate(["--version"], tmp_path)
    assert (code, out) == (0, f"tidegate {__version__}\n")
    assert modules & {*HEAVY, *TERMINAL} == set()


def test_python_dash_m_tidegate_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tidegate", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.split()) == (0, ["tidegate", __version__])
