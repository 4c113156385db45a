"""Running one step in its own process, and measuring it from outside.

Wall time is taken around the whole process (interpreter start and imports included, as
a user of the command would wait). Peak memory is the largest sum of the resident set
sizes of the process and all its descendants, sampled every ``POLL_SECONDS``; the kernel's
high-water mark of each process since it started its program (``VmHWM``) is a floor under
it, so a peak between two samples is not lost. (``wait4``'s ``ru_maxrss`` is not used: it
counts the memory of the parent at the fork, that is, of this harness.)

CPU time is user plus system time of the process, its threads and the children it waited
for (``wait4``'s rusage): on a shared machine wall time moves with the load, CPU time much
less, so it is the figure to compare there.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.05
TIMEOUT_SECONDS = 3 * 3600


@dataclass(frozen=True)
class Measured:
    """One process: how long it ran, its tree's peak memory, and what it said."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system, the process and the children it waited for


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and its live descendants now, or the largest
    high-water mark among them, whichever is more."""
    total = highest = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
        highest = max(highest, high_water_mark(member.pid))
    return max(total, highest)


def high_water_mark(pid: int) -> int:
    """``VmHWM`` of a process: its peak resident bytes since it started its program."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def measure(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``argv`` to completion, sampling its process tree's memory."""
    out, err = cwd / ".stdout", cwd / ".stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(
            list(argv), cwd=cwd, stdout=stdout, stderr=stderr, env={**os.environ, **(env or {})}
        )
        code, peak, cpu = _watch(child, started)
        seconds = time.perf_counter() - started
    return Measured(seconds, peak, code, _text(out), _text(err), cpu)


def _watch(child: subprocess.Popen[bytes], started: float) -> tuple[int, int, float]:
    """Poll until ``child`` exits: its exit code, the peak memory of its tree and its CPU
    seconds (user and system)."""
    process = psutil.Process(child.pid)
    peak = 0
    while True:
        peak = max(peak, tree_rss(process))
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode, peak, usage.ru_utime + usage.ru_stime
        if time.perf_counter() - started > TIMEOUT_SECONDS:
            child.kill()
        time.sleep(POLL_SECONDS)


def _text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    path.unlink(missing_ok=True)
    return text
