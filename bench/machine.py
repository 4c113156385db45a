"""Facts about the machine and the software a run measured, kept with its results."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

PACKAGES = ("tidegate", "duckdb", "dlt", "pyarrow", "psycopg", "pandas", "sqlglot")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def postgres_version(url: str | None) -> str | None:
    if not url:
        return None
    try:
        import psycopg

        with psycopg.connect(url) as con:
            row = con.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else None
    except Exception:  # a fact for the report, never a reason to stop
        return None


def revision(repo: Path) -> str | None:
    """The commit measured, marked ``+changes`` when tidegate's sources differ from it."""
    try:
        head = _git(repo, "rev-parse", "--short", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+changes" if dirty else head


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def facts(postgres_url: str | None, repo: Path) -> dict[str, Any]:
    return {
        "revision": revision(repo),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "versions": {name: version(name) for name in PACKAGES},
        "postgres": postgres_version(postgres_url),
        "load_average_start": list(os.getloadavg()),
    }
