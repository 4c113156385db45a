"""The tidegate exception tree.

Every error carries the values a user needs to act on it (the file, the line or row,
the column, the bad value, what was expected) and renders them in one line via ``str()``.

    TidegateError
    ├── ConfigError              a project file is wrong (exit code 2)
    ├── WarehouseError           the warehouse refused or failed
    │   ├── ConnectionFailed     cannot connect (exit code 2)
    │   └── TransientWarehouseError   worth a retry (connection reset, serialization)
    ├── FileError                one landing file cannot be loaded (the file is rejected)
    │   ├── RoutingError         matched no source, or several
    │   ├── ReadError            unreadable: encoding, format, corrupt archive
    │   ├── EmptyFileError       no records
    │   ├── MissingColumnsError  columns the mapping needs are absent
    │   ├── ThresholdError       too many bad rows (reject_file_over)
    │   └── ReconciliationError  counts do not add up; the file is rolled back
    └── DeliveryError            a notification was not delivered (never fails a load)
        └── TransientDeliveryError   worth a retry (refused, timed out, HTTP 5xx, SMTP 4xx)

``TransientError`` marks errors the runner may retry; everything else is terminal.
Driver exceptions are translated into this tree in exactly one place per adapter,
always with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class TidegateError(Exception):
    """Base of every error tidegate raises on purpose."""


class TransientError(TidegateError):
    """Marker: the operation may succeed if retried."""


class ConfigError(TidegateError):
    """A project file is invalid; names the file, the line and what was expected."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class WarehouseError(TidegateError):
    """The warehouse failed an operation."""


class ConnectionFailed(WarehouseError):
    """Cannot reach or log in to the warehouse. Never carries a password."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"cannot connect to {target}: {reason}")


class TransientWarehouseError(WarehouseError, TransientError):
    """A warehouse error worth retrying (connection reset, serialization failure)."""


class FileError(TidegateError):
    """One landing file cannot be loaded; the file is rejected with this reason."""

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")


class RoutingError(FileError):
    """The file matched no source, or more than one."""


class ReadError(FileError):
    """The file cannot be read (encoding, format, corrupt archive)."""


class EmptyFileError(FileError):
    """The file holds no records."""

    def __init__(self, file: str) -> None:
        super().__init__(file, "the file holds no records")


class MissingColumnsError(FileError):
    """Columns that the mapping needs are absent from the file."""

    def __init__(self, file: str, missing: Sequence[str], found: Sequence[str]) -> None:
        self.missing = list(missing)
        self.found = list(found)
        super().__init__(
            file,
            f"missing columns {self.missing} needed by the mapping; the file has {self.found}",
        )


class ThresholdError(FileError):
    """More bad rows than the target's reject_file_over allows."""

    def __init__(self, file: str, bad: int, total: int, limit: str) -> None:
        self.bad, self.total, self.limit = bad, total, limit
        super().__init__(file, f"{bad} of {total} rows failed, over the limit of {limit}")


class ReconciliationError(FileError):
    """rows_read != loaded + unchanged + quarantined + duplicates, or the warehouse disagrees."""

    def __init__(self, file: str, counts: dict[str, int], detail: str) -> None:
        self.counts = dict(counts)
        shown = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        super().__init__(file, f"counts do not reconcile ({detail}): {shown}")


class DeliveryError(TidegateError):
    """A notification channel did not take a message. Names the channel by a label that
    holds no secret (``webhook https://hooks.example.org/...``), never the URL's token."""

    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"{channel}: {reason}")


class TransientDeliveryError(DeliveryError, TransientError):
    """The channel may take the message later (refused, timed out, HTTP 5xx, SMTP 4xx)."""
