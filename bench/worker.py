"""A measured process: ``python -m bench.worker JOB.json`` runs one step of a floor or of
dlt and prints ``{"rows": N}``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from bench.floors import duckdb_floor, postgres_floor
from bench.job import Job
from bench.peers import dlt_load
from bench.spark import spark_floor

RUNNERS: dict[tuple[str, str], Callable[[Job], int]] = {
    ("floor", "duckdb"): duckdb_floor,
    ("floor", "postgres"): postgres_floor,
    ("dlt", "duckdb"): dlt_load,
    ("dlt", "postgres"): dlt_load,
    ("floor", "spark-1"): spark_floor,
    ("floor", "spark-2"): spark_floor,
}


def main(argv: list[str]) -> int:
    job = Job.load_from(Path(argv[0]))
    rows = RUNNERS[(job.tool, job.warehouse)](job)
    sys.stdout.write(json.dumps({"rows": rows}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
