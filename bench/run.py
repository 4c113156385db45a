"""Running the cases: every tool, every step, repeated with the tools' order rotated.

Each run of a tool starts from nothing (a new folder, a new PostgreSQL database), runs the
case's steps in order and is then removed. A tool that fails a step is not run again in
that case; its result says why. A tool that cannot run here is reported as skipped.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import resident
from bench.measure import measure
from bench.postgres import fresh_database
from bench.scenarios import Scenario, Step
from bench.tools import Tool, command, finish, outcome, prepare, unavailable

REPO = Path(__file__).resolve().parent.parent
Log = Callable[[str], None]


@dataclass
class Result:
    """One measured step of one run of one tool (or why there is none)."""

    scenario: str
    tool: str
    step: str
    repeat: int
    status: str  # ok | failed | skipped
    seconds: float | None = None
    peak_rss: int | None = None
    rows: int = 0
    note: str | None = None
    detail: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float | None = None  # user + system of the step's process

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tools_of(scenario: Scenario, chosen: Sequence[str] | None) -> list[Tool]:
    """The case's tools on its warehouses; ``chosen`` names a tool everywhere (``dlt``) or
    on one warehouse (``tidegate/spark-2``)."""
    return [
        Tool(name, warehouse)
        for warehouse in scenario.warehouses
        for name in scenario.tools
        if chosen is None or name in chosen or f"{name}/{warehouse}" in chosen
    ]


def rotated(tools: list[Tool], repeat: int) -> list[Tool]:
    """The tools in a different order on every repeat, so none always runs first."""
    if not tools:
        return []
    shift = repeat % len(tools)
    return tools[shift:] + tools[:shift]


def run_scenario(
    scenario: Scenario,
    tools: list[Tool],
    postgres_url: str | None,
    workroot: Path,
    log: Log,
) -> list[Result]:
    results: list[Result] = []
    active: list[Tool] = []
    for tool in tools:
        reason = unavailable(tool, scenario, postgres_url)
        if reason:
            results += [Result(scenario.name, tool.label, s.name, 0, "skipped", note=reason)
                        for s in scenario.steps]  # fmt: skip
            log(f"[{scenario.name}] {tool.label}: skipped, {reason}")
        else:
            active.append(tool)
    broken: set[str] = set()
    for repeat in range(scenario.repeats):
        for tool in rotated(active, repeat):
            if tool.label in broken:
                continue
            done = run_once(tool, scenario, repeat, postgres_url, workroot, log)
            results += done
            if any(r.status != "ok" for r in done):
                broken.add(tool.label)
    return results


@contextmanager
def _database(tool: Tool, server: str | None) -> Iterator[str | None]:
    if tool.warehouse != "postgres" or server is None:
        yield None
        return
    with fresh_database(server) as url:
        yield url


def run_once(
    tool: Tool, scenario: Scenario, repeat: int, server: str | None, workroot: Path, log: Log
) -> list[Result]:
    """Every step of the case, in order, for one tool on a fresh warehouse."""
    workdir = workroot / scenario.name / f"{tool.name}-{tool.warehouse}-{repeat}"
    shutil.rmtree(workdir, ignore_errors=True)
    results: list[Result] = []
    try:
        with _database(tool, server) as url:
            prepare(tool, scenario, workdir, url)
            for step in scenario.steps:
                result = _step(tool, scenario, step, repeat, workdir, url)
                results.append(result)
                log(_describe(scenario, result))
                if result.status != "ok":
                    break
    finally:
        finish(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _step(
    tool: Tool, scenario: Scenario, step: Step, repeat: int, workdir: Path, url: str | None
) -> Result:
    argv = command(tool, scenario, step, workdir, url)
    measured = measure(argv, workdir, _environment())
    done = outcome(tool, measured)
    seconds, peak, cpu = measured.seconds, measured.peak_rss, measured.cpu_seconds
    inside = resident.measured_of(measured.stdout) if tool.name == "tidegate-resident" else None
    if inside:  # the run inside the long-lived process, not the process that asked for it
        seconds, peak, cpu = inside["seconds"], inside["peak_rss"], inside["cpu_seconds"]
    return Result(
        scenario.name,
        tool.label,
        step.name,
        repeat,
        done.status,
        round(seconds, 3),
        peak,
        done.rows,
        done.error,
        done.detail or {},
        round(cpu, 3),
    )


def _environment() -> dict[str, str]:
    """The workers import ``bench`` from the repository whatever their folder."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def _describe(scenario: Scenario, result: Result) -> str:
    head = f"[{scenario.name}] {result.tool} {result.step} #{result.repeat + 1}:"
    if result.status != "ok":
        return f"{head} {result.status}: {result.note}"
    mb = (result.peak_rss or 0) / 2**20
    cpu = f", CPU {result.cpu_seconds:.2f} s" if result.cpu_seconds is not None else ""
    return f"{head} {result.seconds:.2f} s{cpu}, {result.rows:,} rows, peak {mb:,.0f} MB"


def stderr_log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
