"""The ``tidegate`` command: its help from the kept text, ``--version`` and a run with
nothing to do without typer (``tidegate.shortcut``), every other command from the typer
app in ``tidegate.commands``, imported only then (typer, click and rich are most of what
``--help`` or an empty run would cost; see ``tidegate.helptext``).

``tidegate.cli.app`` and the other names of the commands module are still read here.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    args = sys.argv[1:]
    code = _kept_help(args)
    if code is None:
        code = _answered(args)
    if code is not None:
        raise SystemExit(code)
    from tidegate.commands import main as commands
    from tidegate.helptext import rendered

    rendered(args, commands)


def _kept_help(args: list[str]) -> int | None:
    from tidegate.helptext import shown

    return shown(args)


def _answered(args: list[str]) -> int | None:
    from tidegate.shortcut import answered

    return answered(args)


def __getattr__(name: str) -> Any:
    """``from tidegate.cli import app`` (and any other name of the commands module)."""
    if name.startswith("__"):  # the import system asks for __path__ and the like
        raise AttributeError(name)
    from tidegate import commands

    return getattr(commands, name)


if __name__ == "__main__":
    main()
