"""Durations as people write them in a setting or a flag: ``90s``, ``15m``, ``1h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """``"7d"`` -> 7 days.

    >>> parse_duration("90s"), parse_duration("1.5h")
    (datetime.timedelta(seconds=90), datetime.timedelta(seconds=5400))
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"expected a duration like 90s, 15m, 1h, 7d or 2w, got {text!r}")
    return timedelta(**{UNITS[match.group(2)]: float(match.group(1))})
