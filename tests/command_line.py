"""The ``tidegate`` command line for the tests: in this process, or in a process of its own.

Starting a Python process and importing tidegate costs about a second per call, which over
the suite's hundreds of calls was most of its time. So ``tidegate()`` runs the very same
typer app in the test's process: it parses the same arguments, prints through the same
consoles (fresh ones, made as a new process makes them: not a terminal, the width from
``COLUMNS``, else 80), returns the exit code the process would exit with, and puts back the
process state a call changes (environment, consoles, the log's handlers).

What only a process can show stays in one (``in_process=False``, or ``tidegate_process``):
the entry point itself, signals, a fault (``TIDEGATE_FAULT`` kills its process with SIGKILL,
so a call with it set always runs in a process of its own), and tests of what a fresh
interpreter imports or reads from its environment at start.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

FAULT_VARIABLE = "TIDEGATE_FAULT"  # tidegate.faults.VARIABLE, without importing tidegate here
ENTRY_POINT = "import sys; from tidegate.cli import main; sys.argv[0] = 'tidegate'; main()"


def tidegate_process(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``tidegate *argv`` in its own process, with ``env`` added to ours: ``cli.main`` as the
    installed ``tidegate`` script calls it (named ``tidegate`` in usage lines)."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY_POINT, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def tidegate(
    argv: Sequence[str], env: Mapping[str, str] | None = None, *, in_process: bool = True
) -> subprocess.CompletedProcess[str]:
    """The command line with ``argv``, ``env`` added to the environment; in this process
    unless ``in_process`` is false or a fault is set (see the module docstring)."""
    faulty = (env or {}).get(FAULT_VARIABLE, os.environ.get(FAULT_VARIABLE))
    if not in_process or faulty:
        return tidegate_process(argv, env)
    return tidegate_in_process(argv, env)


def tidegate_in_process(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The typer app on ``argv`` in this process: what the process would print and exit
    with (an uncaught exception: its traceback on stderr and 1, as the interpreter does)."""
    from tidegate import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        _environment(env or {}),
        _logger_restored(),
        _state_restored(cli.State),
        _streams(stdout, stderr),
        _fresh_consoles(cli.out, cli.err),
    ):
        code = _exit_code(lambda: cli.app(args=list(argv), prog_name="tidegate"))
        gc.collect()  # as cli.main does; and so no warehouse stays open past the call
    return subprocess.CompletedProcess(
        ["tidegate", *argv], code, stdout.getvalue(), stderr.getvalue()
    )


def _exit_code(call: Any) -> int:
    """What the process would exit with (``sys.exit``'s rules)."""
    try:
        call()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # the interpreter prints it and exits with 1
        traceback.print_exc(file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _environment(added: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _streams(stdout: io.StringIO, stderr: io.StringIO) -> Iterator[None]:
    """The call's stdin is empty, its stdout and stderr are pipes, as a child's would be."""
    saved = sys.stdin
    sys.stdin = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            yield
    finally:
        sys.stdin = saved


@contextlib.contextmanager
def _fresh_consoles(*consoles: Any) -> Iterator[None]:
    """The module's consoles (bound as defaults in the cli too, so they are not replaced),
    made anew in place: they read the terminal and ``COLUMNS`` when made, as in a process
    that starts now, with stdout and stderr redirected."""
    from rich.console import Console

    saved = [dict(console.__dict__) for console in consoles]
    for console in consoles:
        fresh = Console(stderr=console.stderr)
        console.__dict__.clear()
        console.__dict__.update(fresh.__dict__)
    try:
        yield
    finally:
        for console, state in zip(consoles, saved, strict=True):
            console.__dict__.clear()
            console.__dict__.update(state)


@contextlib.contextmanager
def _logger_restored() -> Iterator[None]:
    """A command sends the ``tidegate`` logger to its project's log file; take that back."""
    logger = logging.getLogger("tidegate")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        yield
    finally:
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@contextlib.contextmanager
def _state_restored(state: Any) -> Iterator[None]:
    saved = {name: getattr(state, name) for name in ("debug", "log_level")}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(state, name, value)


# --------------------------------------------------------------------------- watching


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll until ``condition`` holds: a test waits for what it needs to have happened, not
    for a time it hopes is long enough (on a busy machine no sleep is)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)


def runs_finished(root: Path) -> int:
    """How many runs the project's log records as finished, idle heartbeats included (the
    ledger records only the runs that had files)."""
    path = root / ".tidegate" / "logs" / "tidegate.log"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if _event(line) == "run finished")


def _event(line: str) -> object:
    try:
        return json.loads(line).get("event")
    except ValueError:  # the line the process is writing now
        return None
