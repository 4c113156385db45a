"""The tidegate exception tree.

Every error carries the values a user needs to act on it (the file, the line or row,
the column, the bad value, what was expected) and renders them in one line via ``str()``.

    TidegateError
    ├── ConfigError              a project file is wrong (exit code 2)
    │   ├── UnknownNameError     a command named a rule, file, source or status that is not there
    │   └── ExpressionError      the compute engine refuses a mapping expression
    ├── TranspileError           an expression has no form in the engine's dialect (Spark)
    ├── ComputeError             the compute engine failed, not because of the data
    │   └── TransientComputeError     worth a retry (a write conflict)
    ├── WarehouseError           the warehouse refused or failed
    │   ├── ConnectionFailed     cannot connect (exit code 2)
    │   └── TransientWarehouseError   worth a retry (connection reset, serialization)
    ├── StoreError               a landing, archive or rejected store failed an operation
    │   ├── StoreUnavailable     cannot reach it: no bucket, refused credentials (exit code 2)
    │   └── TransientStoreError  worth a retry (a timeout, a connection reset)
    ├── FileError                one landing file cannot be loaded (the file is rejected)
    │   ├── RoutingError         matched no source, or several
    │   ├── ReadError            unreadable: encoding, format, corrupt archive
    │   ├── EmptyFileError       no records
    │   ├── MissingColumnsError  columns the mapping needs are absent
    │   ├── ExpressionDataError  the file's values break a mapping expression
    │   ├── ThresholdError       too many bad rows (reject_file_over)
    │   └── ReconciliationError  counts do not add up; the file is rolled back
    ├── DeliveryError            a notification was not delivered (never fails a load)
    │   └── TransientDeliveryError   worth a retry (refused, timed out, HTTP 5xx, SMTP 4xx)
    └── PullError                an ``api:`` source could not be pulled in full
        ├── SourceUnreachable    no connection, or the API refused us (exit code 2)
        ├── SourceUnavailable    retries spent, or its circuit breaker is open (exit code 1)
        └── MalformedPage        a page is not JSON or lacks its records (page rejected)

Two markers tell the runner what to do with a file. ``TransientError``: retry it (a lost
connection, a lock or serialization timeout). ``TerminalError``: retrying cannot help; the
data must go (a ``FileError`` sends the file to rejected/ with its reason) or the project
must change (a ``ConfigError`` leaves the file in landing, failed, until it is fixed).
Driver and engine exceptions are translated into this tree in exactly one place per adapter
and engine, always with ``raise ... from exc``. Anything else is a bug in tidegate: the run
records the file as failed with "internal error: ..." and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (a driver's may run on for lines), or its
    type's name when it has no text: error messages are one line each."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


class TidegateError(Exception):
    """Base of every error tidegate raises on purpose."""


class TransientError(TidegateError):
    """Marker: the operation may succeed if retried."""


class TerminalError(TidegateError):
    """Marker: the same input fails the same way again; the data or the project must change."""


class ConfigError(TerminalError):
    """A project file is invalid; names the file, the line and what was expected."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class UnknownNameError(ConfigError):
    """A command option names something that does not exist; lists the names that do."""

    SHOWN = 20  # names listed at most; the rest are counted

    def __init__(
        self, option: str, kind: str, value: str, valid: Sequence[str], listing: str
    ) -> None:
        self.option, self.kind, self.value, self.valid = option, kind, value, list(valid)
        listed = ", ".join(self.valid[: self.SHOWN]) or "none"
        if len(self.valid) > self.SHOWN:
            listed += f" and {len(self.valid) - self.SHOWN} more"
        super().__init__(option, f"no {kind} {value!r}; {listing}: {listed}")


class ExpressionError(ConfigError):
    """The compute engine cannot run an expression of a source or target file."""

    def __init__(self, path: Path | str, line: int, where: str, sql: str, reason: str) -> None:
        self.where, self.sql, self.reason = where, sql, reason
        super().__init__(path, f"{where}: `{sql}` cannot run: {reason}", line)


class TranspileError(TerminalError):
    """An expression of the compute dialect (DuckDB) has no form in another engine's SQL;
    ``check`` reports it with the YAML file and line of the expression."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ComputeError(TidegateError):
    """The compute engine failed for a reason other than the data (memory, disk)."""


class TransientComputeError(ComputeError, TransientError):
    """A compute-engine failure worth retrying (a write-write conflict)."""


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


class StoreError(TidegateError):
    """A store (landing, archive, rejected) failed an operation. Names the setting and the
    URL without credentials, never an option's secret."""

    def __init__(self, setting: str, url: str, reason: str) -> None:
        self.setting, self.url, self.reason = setting, url, reason
        super().__init__(f"{setting}: {url}: {reason}")


class StoreUnavailable(StoreError, TerminalError):
    """The store cannot be reached: an unknown scheme, no such bucket, refused credentials."""


class TransientStoreError(StoreError, TransientError):
    """A store error worth retrying (a timeout, a connection reset, a throttled request)."""


class FileError(TerminalError):
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


class ExpressionDataError(FileError):
    """A value of the file makes a mapping expression fail (a strict cast, a bad date)."""

    def __init__(
        self, file: str, config: str, line: int, where: str, sql: str, reason: str
    ) -> None:
        self.config, self.line, self.where, self.sql, self.reason = config, line, where, sql, reason
        super().__init__(
            file, f"{reason}, in {where} `{sql}` ({config}:{line}); fix the file or the expression"
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


class PullError(TidegateError):
    """An ``api:`` source could not be pulled in full; what was landed before stays.
    Names the source and the URL without its query string (which may hold a token)."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"source {source!r}: {message}")


class SourceUnreachable(PullError, TerminalError):
    """The API cannot be reached (refused, unknown host) or refuses us (HTTP 4xx)."""


class SourceUnavailable(PullError, TransientError):
    """The API keeps failing (429, 5xx, timeouts) or its circuit breaker is open."""


class MalformedPage(PullError, TerminalError):
    """A page is not JSON, or its records are not where the source says."""
