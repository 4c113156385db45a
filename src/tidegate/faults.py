"""Fault injection for crash tests: ``TIDEGATE_FAULT=<checkpoint>:<n>`` kills the process
(SIGKILL, no cleanup) the n-th time it reaches that checkpoint.

The checkpoints sit where a crash is most harmful: after a read, inside the transaction
before commit, after commit before the archive move, between the copy and the delete of
a move that copies, and after the move. Unset, a
checkpoint costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

VARIABLE = "TIDEGATE_FAULT"
CHECKPOINTS = (
    "read",
    "commit",
    "committed",
    "copied",
    "archived",
    "rewrite.copied",
    "rewrite.before_rename",
    "spark.rewritten",
)
_reached: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    setting = os.environ.get(VARIABLE)
    if not setting:
        return
    wanted, _, count = setting.partition(":")
    if wanted != name:
        return
    _reached[name] += 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
