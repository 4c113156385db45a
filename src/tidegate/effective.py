"""When a file's rows took effect: ``history.effective`` of a target.

run_time        the time of the load (default)
file_mtime      the file's modification time
name:<regex>    a time taken from the file's path under landing: the regex's groups,
                joined by a space, read with the first format that fits
                (``name:date=(\\d{4}-\\d{2}-\\d{2})/hour=(\\d{2})`` gives 2020-01-01 07:00)
column:<name>   a column of the target, row by row
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tidegate.config.models import HistoryConfig
from tidegate.errors import ConfigError, FileError

FORMATS = (
    "%Y-%m-%d %H",
    "%Y-%m-%d %H %M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%Y%m%d",
    "%Y%m%d %H",
    "%Y%m%d%H%M%S",
    "%Y%m%dT%H%M%S",
)


def parse_time(text: str) -> datetime | None:
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def is_set(history: HistoryConfig) -> bool:
    """Whether rows carry an effective time of their own (anything but the load time).

    Merge and replace targets then keep it in ``history.columns.valid_from``, so that a
    file that arrives late never overwrites what a newer one wrote.
    """
    return history.effective.partition(":")[0] != "run_time"


def row_column(history: HistoryConfig) -> str | None:
    """The target column that carries each row's effective time, if any."""
    kind, _, value = history.effective.partition(":")
    return value if kind == "column" else None


def file_time(history: HistoryConfig, path: str, mtime: float, run_time: datetime) -> datetime:
    """The effective time of a whole file (rows without their own time take it)."""
    kind, _, value = history.effective.partition(":")
    if kind in ("run_time", "column"):
        return run_time
    if kind == "file_mtime":
        return datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None)
    if kind == "name":
        return _from_name(value, path)
    raise ConfigError("history.effective", f"unknown effective time {history.effective!r}")


def _from_name(pattern: str, path: str) -> datetime:
    match = re.search(pattern, path)
    if match is None:
        raise FileError(
            path, f"the effective-time pattern {pattern!r} does not match the file's path"
        )
    text = " ".join(g for g in match.groups() if g) if match.groups() else match.group(0)
    found = parse_time(text)
    if found is None:
        raise FileError(path, f"{text!r} taken from the path by {pattern!r} is not a date or time")
    return found
