"""What the ``tidegate`` script answers without typer: ``--version``, and a ``run`` with
nothing to do (``tidegate.idle``).

typer, click and rich, and building every command, cost more than an empty run's own
work (``docs/benchmarks.md``, "The start"). So ``tidegate.cli`` first asks here. A run is
answered here only when its arguments are the few this module reads (``-p``/``--project``,
``--json``, ``--debug``, and the group's ``--log-level`` before ``run``) and
``tidegate.idle`` finds nothing to do: first without loading the project (its files are
those of the last run told at once), else from the project loaded; and its log is set
up. Any other case, an error included, goes to the typer command from the start, which
tells it as ever, since nothing has been written by then. Once the quick run has begun,
an error is told by the typer command's own handler.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate import __version__

if TYPE_CHECKING:
    from tidegate.config.models import Project

__all__ = ["answered"]

# The options read here, before ``run`` (the group's) and after it (the command's).
GROUP = {"--log-level": True, "--debug": False}  # name: whether it takes a value
RUN = {"-p": True, "--project": True, "--json": False, "--debug": False}


@dataclass(frozen=True)
class RunArguments:
    project: Path
    as_json: bool = False
    debug: bool = False
    log_level: str | None = None


def answered(args: Sequence[str]) -> int | None:
    """The exit code, when ``args`` were answered here; None when typer must answer."""
    if list(args) == ["--version"]:
        sys.stdout.write(f"tidegate {__version__}\n")
        return 0
    parsed = run_arguments(args)
    return None if parsed is None else _empty_run(parsed)


def run_arguments(args: Sequence[str]) -> RunArguments | None:
    """``tidegate [--debug] [--log-level L] run [-p P] [--json] [--debug]`` read, or None
    for anything else (typer reads it).

    >>> run_arguments(["--log-level", "debug", "run", "-p", "x", "--json"])
    RunArguments(project=PosixPath('x'), as_json=True, debug=False, log_level='debug')
    >>> run_arguments(["run", "--dry-run"]) is None
    True
    """
    if "run" not in args:
        return None
    at = list(args).index("run")
    group, command = _options(args[:at], GROUP), _options(args[at + 1 :], RUN)
    if group is None or command is None:
        return None
    project = command.get("--project", command.get("-p", "."))
    if not project or ("-p" in command and "--project" in command):
        return None
    return RunArguments(
        project=Path(str(project)),
        as_json="--json" in command,
        debug="--debug" in group or "--debug" in command,
        log_level=None if group.get("--log-level") is None else str(group["--log-level"]),
    )


def _options(tokens: Sequence[str], known: dict[str, bool]) -> dict[str, str | None] | None:
    """The ``known`` options in ``tokens``, each given once; None for anything else."""
    found: dict[str, str | None] = {}
    i = 0
    while i < len(tokens):
        name, equals, inline = tokens[i].partition("=")
        valued = known.get(name)
        if valued and equals:
            value: str | None = inline
            i += 1
        elif valued and i + 1 < len(tokens):
            value = tokens[i + 1]
            i += 2
        elif valued is False and not equals:
            value = None
            i += 1
        else:
            return None
        if name in found or (value is not None and value.startswith("-")):
            return None
        found[name] = value
    return found


def _empty_run(arguments: RunArguments) -> int | None:
    """The run, when it has nothing to do and its project and log are fine; else None."""
    from tidegate import idle, log

    project: Project | None = None
    try:
        root = arguments.project.resolve()
        landing = idle.unloaded_landing(root)
        if landing is None:  # its files changed: it may still have nothing to do
            from tidegate.config import load_project

            project = load_project(root)
            landing = idle.empty_landing(project) if idle.eligible(project) else None
        if landing is not None:
            log.configure(root, arguments.log_level)
    except KeyboardInterrupt as exc:
        return _told(exc, arguments.debug)
    except Exception:  # told by the typer command, which meets it again
        return None
    if landing is None:
        return None
    try:
        result = idle.finish(root, landing)
        if project is not None:
            idle.refresh(project)
    except BaseException as exc:
        return _told(exc, arguments.debug)
    if arguments.as_json:
        text = json.dumps(result.as_json(False), indent=2, default=str, ensure_ascii=False)
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write("nothing new in landing\n")
    return 0 if result.ok else 1


def _told(exc: BaseException, debug: bool) -> int:
    """An error, told and given its exit code as the typer command tells it."""
    import typer

    from tidegate.commands import State, handled

    State.debug = debug
    try:
        with handled():
            raise exc
    except typer.Exit as done:
        return int(done.exit_code)
    return 1  # handled() turns every error into an exit
