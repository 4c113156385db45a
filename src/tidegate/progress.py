"""Progress inside one large file: the engine's own measure of the statement it runs.

DuckDB knows how far a statement is (for a read, how much of the file it has scanned);
a thread asks it a few times a second while a large file is read and loaded, and hands
each reading to the caller (the command line's progress bar). Small files are not
watched: they end before the first reading would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from tidegate.compute.engine import Engine

MIN_BYTES = 8 * 1024 * 1024  # smaller files are not watched
INTERVAL = 0.25  # seconds between readings


@dataclass(frozen=True)
class FileProgress:
    """One reading: the file, its stage (reading, loading), how far, rows once known."""

    path: str
    size: int
    stage: str
    percent: float  # of the statement running now, 0-100
    rows: int | None = None

    @property
    def bytes_done(self) -> int:
        """Bytes of the file behind us, while it is read."""
        return self.size if self.stage != "reading" else int(self.size * self.percent / 100)


During = Callable[[FileProgress], None]


class Watcher:
    """Readings of one file's progress on a thread, until stopped."""

    def __init__(self, con: Engine, report: During, path: str, size: int):
        self.con, self.report = con, report
        self.path, self.size = path, size
        self.stage = "reading"
        self.rows: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"progress {path}", daemon=True)

    @classmethod
    def start(cls, con: Engine, report: During | None, path: str, size: int) -> Watcher | None:
        if report is None or size < MIN_BYTES:
            return None
        watcher = cls(con, report, path, size)
        watcher._thread.start()
        return watcher

    def loading(self, rows: int) -> None:
        self.stage, self.rows = "loading", rows

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(INTERVAL):
            percent = self.con.progress()
            if percent is not None:  # None: between statements
                self.report(FileProgress(self.path, self.size, self.stage, percent, self.rows))
