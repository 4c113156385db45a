"""One clock for every timestamp tidegate writes."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """UTC wall time without tzinfo: every warehouse stores it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)
