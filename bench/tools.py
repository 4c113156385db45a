"""How each tool runs one step: what is prepared before the clock starts, the command that
is timed, and how its output says what it loaded.

tidegate runs as a user runs it, ``tidegate run --project DIR --json``, on a project written
for the case with the step's files landed (hard links into ``landing/``). The floors and
dlt run in ``python -m bench.worker JOB.json``; Sling is its own binary (bench/sling.py).
``tidegate-resident`` is tidegate in one process that stays up between steps, as ``tidegate
watch`` keeps it (bench/resident.py): a step is one more run, measured inside that process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import projects, resident, sling, spark
from bench.job import Job
from bench.measure import Measured
from bench.scenarios import Scenario, Step


@dataclass(frozen=True)
class Tool:
    name: str  # floor | tidegate | tidegate-noraw | tidegate-s3 | tidegate-resident | dlt | sling
    warehouse: str  # duckdb | postgres | spark-1 | spark-2 (bench/spark.py)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.warehouse}"

    @property
    def is_tidegate(self) -> bool:
        """tidegate as a user gets it, with the raw layer off (``tidegate-noraw``), with
        landing, archive and rejected in an S3 bucket (``tidegate-s3``, moto's server), or
        in one long-lived process (``tidegate-resident``)."""
        return self.name in TIDEGATES


TIDEGATES = ("tidegate", "tidegate-noraw", "tidegate-s3", "tidegate-resident")
RESIDENTS: dict[Path, subprocess.Popen[bytes]] = {}  # the resident process of a run's folder

# tidegate's words for a load mode that is not there yet: reported as skipped, not failed.
NOT_YET = ("not available", "needs the batch columns")


@dataclass(frozen=True)
class Outcome:
    """What a finished step reported: records loaded, or why it failed (or was skipped)."""

    rows: int
    error: str | None = None
    detail: dict[str, int] | None = None

    @property
    def status(self) -> str:
        if self.error is None:
            return "ok"
        return "skipped" if any(words in self.error for words in NOT_YET) else "failed"


def unavailable(tool: Tool, scenario: Scenario, postgres_url: str | None) -> str | None:
    """Why ``tool`` cannot run here, or None."""
    if spark.is_spark(tool.warehouse):
        return spark.missing()
    if tool.warehouse == "postgres" and not postgres_url:
        return "no PostgreSQL server (--postgres URL or local, or TIDEGATE_BENCH_POSTGRES_URL)"
    if tool.warehouse == "postgres" and importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed"
    if tool.name == "dlt":
        return _missing_dlt(scenario)
    if tool.name == "sling":
        return sling.NO_SCD2 if scenario.load == "scd2" else sling.missing()
    return None


def _missing_dlt(scenario: Scenario) -> str | None:
    needed = ["dlt", "pandas"] if scenario.load == "scd2" else ["dlt"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install -r bench/requirements.txt)"
    return None


# --------------------------------------------------------------------------- preparing


def prepare(tool: Tool, scenario: Scenario, workdir: Path, url: str | None) -> None:
    """Before the first step: the tidegate project, Sling's home (the others need nothing)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if tool.name == "sling":
        sling.prepare(workdir)
    if tool.is_tidegate:
        files = projects.contract(scenario.kind, scenario.load, scenario.deletes)
        projects.write_project(
            workdir, files, url, keep_raw=tool.name != "tidegate-noraw", warehouse=tool.warehouse
        )
    if tool.name == "tidegate-s3":
        from bench import s3

        lines, env = s3.project_lines(scenario.name)
        config = workdir / "tidegate.yml"
        folders = ("landing:", "archive:", "rejected:")
        kept = [line for line in config.read_text().splitlines() if not line.startswith(folders)]
        config.write_text("\n".join(kept) + "\n" + lines, encoding="utf-8")
        (workdir / ".env").write_text(env, encoding="utf-8")
    if tool.name == "tidegate-resident":
        RESIDENTS[workdir] = resident.start(workdir)


def finish(workdir: Path) -> None:
    """After the last step: the run's resident process, if any, is stopped."""
    child = RESIDENTS.pop(workdir, None)
    if child is not None:
        resident.stop(child)


def land(step: Step, landing: Path) -> None:
    """The step's files into landing, as hard links (tidegate moves them to the archive)."""
    for source, relative in step.files:
        target = landing / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())


def upload_landing(step: Step, workdir: Path) -> None:
    """The step's files into the project's S3 landing (untimed)."""
    from bench import s3

    config = (workdir / "tidegate.yml").read_text(encoding="utf-8")
    [landing] = [
        line.split(": ", 1)[1] for line in config.splitlines() if line.startswith("landing: s3://")
    ]
    for source, relative in step.files:
        s3.upload(source, landing.rstrip("/") + "/" + relative)


def command(
    tool: Tool, scenario: Scenario, step: Step, workdir: Path, url: str | None
) -> list[str]:
    """Prepare the step (untimed) and return the command to time."""
    if tool.name == "tidegate-s3":
        upload_landing(step, workdir)
        return [sys.executable, "-m", "tidegate.cli", "run", "--project", str(workdir), "--json"]
    if tool.name == "tidegate-resident":
        land(step, workdir / "landing")
        return [sys.executable, "-m", "bench.resident", "ask"]
    if tool.is_tidegate:
        land(step, workdir / "landing")
        return [sys.executable, "-m", "tidegate.cli", "run", "--project", str(workdir), "--json"]
    files = tuple(source for source, _ in step.files)
    landing = scenario.landing or files[0].parent
    if tool.name == "sling":
        source = landing if scenario.kind == "small" else files[0]
        return sling.command(scenario.kind, scenario.load, tool.warehouse, source, workdir, url)
    job = Job(
        tool.name,
        tool.warehouse,
        scenario.kind,
        step.name,
        () if scenario.kind == "small" else files,
        landing,
        workdir,
        url,
        scenario.load,
        scenario.deletes,
    )
    saved = job.save(workdir / f"job-{step.name}.json")
    return [sys.executable, "-m", "bench.worker", str(saved)]


# --------------------------------------------------------------------------- outcomes


def outcome(tool: Tool, measured: Measured) -> Outcome:
    if tool.is_tidegate:
        return _tidegate_outcome(measured)
    if tool.name == "sling":
        return _sling_outcome(measured)
    if measured.returncode != 0:
        return Outcome(0, _error_line(measured.stderr))
    try:
        return Outcome(int(json.loads(measured.stdout)["rows"]))
    except (ValueError, KeyError):
        return Outcome(0, f"unreadable output: {measured.stdout[:200]!r}")


def _tidegate_outcome(measured: Measured) -> Outcome:
    try:
        files = json.loads(measured.stdout)["files"]
    except (ValueError, KeyError):
        return Outcome(0, _error_line(measured.stderr) or f"exit {measured.returncode}")
    failed = [f for f in files if f["status"] not in ("loaded", "duplicate")]
    names = ("rows_read", "rows_loaded", "rows_unchanged", "rows_quarantined", "rows_duplicate")
    detail = {name: sum(int(f[name]) for f in files) for name in names}
    detail["files"] = len(files)
    if failed:
        first = failed[0]
        error = f"{len(failed)} file(s) {first['status']}: {first.get('error') or ''}"
        return Outcome(0, error.strip(), detail)
    return Outcome(detail["rows_read"], None, detail)


def _sling_outcome(measured: Measured) -> Outcome:
    """Sling logs to stderr; a step that inserted nothing says so, and is not ok."""
    log = measured.stderr + measured.stdout
    if measured.returncode != 0:
        return Outcome(0, sling.failure(log, measured.returncode))
    rows = sling.inserted(log)
    if rows is None:
        return Outcome(0, f"Sling reported no rows inserted: {sling.failure(log)}")
    return Outcome(rows)


def _error_line(stderr: str) -> str:
    """The most telling line of a traceback: the last that names an error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line[:300]
    return lines[-1][:300] if lines else "failed without a message"
