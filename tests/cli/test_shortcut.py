"""The arguments the ``tidegate`` script reads itself, to answer an empty run without typer:
what it reads is what typer reads, and whatever it cannot read is typer's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from tidegate.commands import app
from tidegate.shortcut import RunArguments, run_arguments

READ = [
    (["run"], RunArguments(Path("."))),
    (["run", "-p", "x"], RunArguments(Path("x"))),
    (["run", "--project", "x", "--json"], RunArguments(Path("x"), as_json=True)),
    (["run", "--project=x"], RunArguments(Path("x"))),
    (["--debug", "run", "-p", "x"], RunArguments(Path("x"), debug=True)),
    (["run", "-p", "x", "--debug"], RunArguments(Path("x"), debug=True)),
    (["--log-level", "debug", "run"], RunArguments(Path("."), log_level="debug")),
    (["--log-level=warning", "run", "--json"], RunArguments(Path("."), True, log_level="warning")),
]

TYPERS = [
    [],
    ["runs"],
    ["status", "-p", "run"],
    ["run", "--dry-run"],
    ["run", "--help"],
    ["run", "-p"],
    ["run", "-p", "x", "-p", "y"],  # click takes the last; typer says so
    ["run", "-p", "x", "--project", "y"],
    ["run", "-p", "--json"],
    ["run", "-px"],
    ["run", "--json=1"],
    ["run", "extra"],
    ["run", "--", "-p"],
    ["run", "--log-level", "debug"],  # the group's option, after the command: an error
    ["--json", "run"],
    ["--log-level", "run"],
    ["--version", "run"],
    ["run", "-p", ""],
]


@pytest.mark.parametrize(("args", "read"), READ)
def test_a_run_is_read_as_typer_reads_it(args: list[str], read: RunArguments) -> None:
    assert run_arguments(args) == read == _typers(args)


def _typers(args: list[str]) -> RunArguments:
    """The run's arguments as the typer app parses them."""
    group = get_command(app)
    context = group.make_context("tidegate", list(args))
    # click keeps the command's name and what follows apart (``_protected_args`` from 8.2)
    protected: list[str] = getattr(context, "_protected_args", None) or context.protected_args
    name, command, rest = group.resolve_command(context, [*protected, *context.args])
    assert name == "run" and command is not None
    run: dict[str, Any] = command.make_context(name, rest, parent=context).params
    assert run["dry_run"] is False
    options = context.params
    return RunArguments(run["project"], run["as_json"], options["debug"], options["log_level"])


@pytest.mark.parametrize("args", TYPERS)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert run_arguments(args) is None
