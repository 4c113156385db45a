"""The project's log: JSON lines in ``.tidegate/logs/tidegate.log``, rotated.

One event per step of a file (discovered, read, checked, loaded, archived, rejected,
failed) with its timings and counts, and one per run. An event carries names, ids, counts
and timings, never a value of a file: reasons are logged with their quoted values masked
(the ledger keeps the full reason, where the warehouse protects it), and every text passes
through ``hide_passwords``.

    TIDEGATE_LOG_LEVEL=debug tidegate run      # or: tidegate --log-level debug run
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidegate.config.redact import hide_passwords

LOGGER = "tidegate"
ENV_LEVEL = "TIDEGATE_LOG_LEVEL"
FILE_NAME = "tidegate.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
LEVELS = ("debug", "info", "warning", "error")

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")

logger = logging.getLogger(LOGGER)


def mask_values(text: str) -> str:
    """A reason without the values it quotes: ``'...'`` stands for each.

    >>> mask_values("column 'email': 'a@b.org' does not match")
    "column '...': '...' does not match"
    """
    return _QUOTED.sub("'...'", hide_passwords(text))


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, event, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": hide_passwords(record.getMessage()),
            **{k: _safe(v) for k, v in fields.items()},
        }
        return json.dumps(line, ensure_ascii=False, default=str)


def _safe(value: Any) -> Any:
    return hide_passwords(value) if isinstance(value, str) else value


def level_of(given: str | None) -> int:
    """The level from the flag, else ``TIDEGATE_LOG_LEVEL``, else info."""
    name = (given or os.environ.get(ENV_LEVEL) or "info").strip().lower()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {name!r}")
    return int(getattr(logging, name.upper()))


def configure(root: Path, level: str | None = None) -> Path:
    """Send tidegate's events to the project's log file (again for each project)."""
    folder = root / ".tidegate" / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    logger.setLevel(level_of(level))
    logger.propagate = False
    return path


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (names, ids, counts, timings: never a value)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})


@contextmanager
def step(name: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Time one step; counts put into the yielded dict are logged with it."""
    counts: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        yield counts
    finally:
        seconds = round(time.perf_counter() - started, 4)
        event(name, **fields, **counts, seconds=seconds)
