"""The floors: the least a loader must do to get the same files into the same warehouse.

DuckDB: ``CREATE TABLE AS SELECT * FROM read_csv(...)`` (``read_json`` for JSON) into a file
database, types detected by DuckDB's sniffer. PostgreSQL: ``COPY ... FROM STDIN`` of the
raw bytes through psycopg into a typed table (JSON Lines: one ``jsonb`` value per line).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from bench.job import Job

if TYPE_CHECKING:
    import psycopg

CHUNK = 1 << 20

# The typed columns of each CSV data set, for COPY.
POSTGRES_COLUMNS = {
    "wide": "lead_id bigint, company text, email text, phone text, state text,"
    " capacity integer, signed_up date, revenue numeric(12,2)",
    "churn": "customer_id text, name text, email text, city text, segment text,"
    " credit_limit numeric(12,2), customer_since date",
}
# JSON Lines into one jsonb column: CSV mode with a quote and delimiter no JSON text holds.
JSONL_COPY = "COPY {table} (doc) FROM STDIN (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"


# --------------------------------------------------------------------------- DuckDB


def duckdb_floor(job: Job) -> int:
    queries = _duckdb_queries(job)
    with duckdb.connect(str(job.workdir / "floor.duckdb")) as con:
        for table, query in queries.items():
            con.execute(f"CREATE OR REPLACE TABLE {table} AS {query}", [_source(job)])
        row = con.execute(f"SELECT count(*) FROM {next(iter(queries))}").fetchone()
    return int(row[0]) if row else 0


def _source(job: Job) -> str:
    """The file (or, for many small files, the glob) the floor reads."""
    if job.kind == "small":
        return str(job.landing / "**" / "*.jsonl.gz")
    return str(job.files[0])


def _duckdb_queries(job: Job) -> dict[str, str]:
    """Table -> query over the step's files (``?`` is the file or glob); the first table
    holds one row per record."""
    if job.kind in ("wide", "churn"):
        return {f"t_{job.step}": "SELECT * FROM read_csv(?)"}
    if job.kind == "small":
        read = "read_json(?, format = 'newline_delimited', hive_partitioning = true)"
        return {"events": f"SELECT * FROM {read}"}
    if job.kind == "nested":
        read = "read_json(?, format = 'newline_delimited')"
        return {
            "orders": f"SELECT * EXCLUDE (items), len(items) AS item_count FROM {read}",
            "order_items": (
                "SELECT order_id, unnest(generate_series(1, len(items))) AS line,"
                f" unnest(items, recursive := true) FROM {read}"
            ),
        }
    raise ValueError(f"no DuckDB floor for {job.kind!r}")


# --------------------------------------------------------------------------- PostgreSQL


def postgres_floor(job: Job) -> int:
    import psycopg

    assert job.url is not None
    with psycopg.connect(job.url, autocommit=True) as con:
        con.execute("SET datestyle = 'ISO, MDY'")
        if job.kind in ("wide", "churn"):
            return _copy_csv(con, f"t_{job.step}", POSTGRES_COLUMNS[job.kind], job.files[0])
        return _copy_lines(con, f"raw_{job.kind}_{job.step}", _jsonl_files(job))


def _copy_csv(con: psycopg.Connection[Any], table: str, columns: str, path: Path) -> int:
    con.execute(f"CREATE TABLE {table} ({columns})")
    copy_sql = f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)"
    with con.cursor() as cursor:
        with cursor.copy(copy_sql) as copy, path.open("rb") as source:
            while chunk := source.read(CHUNK):
                copy.write(chunk)
        return int(cursor.rowcount)


def _jsonl_files(job: Job) -> list[Path]:
    if job.kind == "small":
        return sorted(job.landing.rglob("*.jsonl.gz"))
    return list(job.files)


def _copy_lines(con: psycopg.Connection[Any], table: str, files: list[Path]) -> int:
    """Each file in its own COPY (and transaction), as a per-file loader would."""
    con.execute(f"CREATE TABLE {table} (doc jsonb)")
    rows = 0
    with con.cursor() as cursor:
        for path in files:
            with cursor.copy(JSONL_COPY.format(table=table)) as copy:
                for chunk in _chunks(path):
                    copy.write(chunk)
            rows += int(cursor.rowcount)
    return rows


def _chunks(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk
