"""``tidegate watch``: run whenever landing changes, and on a heartbeat.

A change event starts a run; the run itself only takes files that are stable, so a file
still being copied is left alone and picked up by the next event or heartbeat (a copy
that stops changing sends no more events, hence the heartbeat). An object store sends no
events: a landing URL is listed every ``poll_seconds`` (tidegate.yml, 30 by default).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from watchfiles import watch as changes

from tidegate.config.models import Project
from tidegate.pipeline import RunResult, run
from tidegate.store import project_store

OnRun = Callable[[RunResult], None]


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


def watch(project: Project, on_run: OnRun, heartbeat_seconds: float = 10.0) -> None:
    """Run now, then after every burst of changes in landing and every heartbeat, until
    SIGTERM or SIGINT."""
    stop = threading.Event()
    _stop_on_signals(stop)
    landing = project_store(project, "landing").local_path("")
    if landing is None:
        poll(project, on_run, stop)
        return
    landing.mkdir(parents=True, exist_ok=True)
    on_run(run(project))
    events = changes(
        landing,
        debounce=int(project.config.settle_seconds * 1000) or 200,
        rust_timeout=int(heartbeat_seconds * 1000),
        yield_on_timeout=True,
        stop_event=stop,
        raise_interrupt=False,
    )
    for _ in events:
        if stop.is_set():
            break
        result = run(project)
        if result.files:
            on_run(result)


def poll(project: Project, on_run: OnRun, stop: threading.Event) -> None:
    """Run now, then every ``poll_seconds``, until ``stop`` is set (by SIGTERM or SIGINT)."""
    on_run(run(project))
    while not stop.wait(project.config.poll_seconds):
        result = run(project)
        if result.files:
            on_run(result)
