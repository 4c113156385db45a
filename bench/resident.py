"""tidegate in one long-lived process, as ``tidegate watch`` and the Dagster integration
keep it: the interpreter, the imports and the project are paid for once, before the first
step, and every step is one more ``pipeline.run`` of the same project.

``python -m bench.resident serve DIR`` starts the process (untimed, before the first step)
and listens on ``DIR/.resident.sock``; ``python -m bench.resident ask``, in ``DIR``, makes it
run once and prints the run's ``--json`` result with what the process measured of that run alone:
its wall time, its CPU time (user and system, all threads) and its peak resident memory
(the kernel's high-water mark, reset before the run). Those figures are the step's, not
the asking process's. The harness ends the process after the last step.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SOCKET = ".resident.sock"
READY_SECONDS = 120.0


def start(workdir: Path) -> subprocess.Popen[bytes]:
    """The resident process of the project in ``workdir``, once it listens."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    with (workdir / ".resident.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.resident", "serve", str(workdir)],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip
    deadline = time.monotonic() + READY_SECONDS
    while not (workdir / SOCKET).exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            tail = (workdir / ".resident.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the resident tidegate did not start: {tail}")
        time.sleep(0.05)
    return child


def stop(child: subprocess.Popen[bytes]) -> None:
    """End the resident process (between runs: it holds no transaction)."""
    child.terminate()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def ask() -> str:
    """One run of the resident process whose folder is the current one: its reply."""
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(SOCKET)  # relative: a socket's path has at most 107 bytes
        client.sendall(b"run\n")
        client.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: client.recv(65536), b"")).decode()


def serve(workdir: Path) -> None:
    """Load the project, then run it once per request, until stopped."""
    from tidegate.config import load_project
    from tidegate.pipeline import run

    project = load_project(workdir.resolve())
    os.chdir(workdir)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(SOCKET)
        server.listen(1)
        while True:
            connection, _ = server.accept()
            with connection:
                connection.makefile("rb").readline()  # the request: one run
                connection.sendall(json.dumps(_measured(lambda: run(project).as_json(False)),
                                              default=str).encode())  # fmt: skip


def _measured(once: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``once()``'s result with its wall time, CPU time and peak memory, or its error."""
    _reset_peak()
    started, cpu = time.perf_counter(), _cpu()
    try:
        result = once()
    except Exception as exc:  # the asking side reports it as the step's failure
        return {"error": f"{type(exc).__name__}: {exc}"}
    figures = {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu,
               "peak_rss": _peak()}  # fmt: skip
    return {**result, "measured": figures}


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _reset_peak() -> None:
    """Set the kernel's high-water mark of this process to its resident set now."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def measured_of(stdout: str) -> dict[str, Any] | None:
    """The figures the resident process measured, from ``ask``'s output."""
    try:
        figures = json.loads(stdout)["measured"]
    except (ValueError, KeyError, TypeError):
        return None
    return figures if isinstance(figures, dict) else None


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 2:
        serve(Path(argv[1]))
        return 0
    if argv == ["ask"]:
        reply = ask()
        error = json.loads(reply).get("error") if reply else "no reply"
        if error:
            sys.stderr.write(f"error: {error}\n")
            return 1
        sys.stdout.write(reply + "\n")
        return 0
    raise SystemExit("usage: python -m bench.resident serve DIR | ask (in DIR)")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
