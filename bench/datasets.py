"""The benchmark data sets, generated deterministically into ``bench/.data/``.

Every value is a function of the row number (DuckDB's ``hash`` or a seeded ``random``),
so the same size gives the same bytes on every run with the same DuckDB version. A data
set is generated once: a ``.done`` marker beside its files records what was asked for,
and a later run with the same request reuses the files.

    wide       a leads-like CSV of 8 columns: text, integers, dates, decimals, some nulls,
               and a few rows that break the contract (bad e-mail, negative capacity, bad date)
    churn      a customer dimension: snapshot 0, snapshot 1 (some keys changed, new, deleted)
               and the delta (only the changed and new rows)
    small      many small JSON Lines files (gzip) in ``date=YYYY-MM-DD/hour=HH/`` folders
    nested     JSON Lines orders with 1-10 items each
"""

from __future__ import annotations

import fcntl
import gzip
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

DATA_ROOT = Path(__file__).resolve().parent / ".data"
MARKER = ".done"


@dataclass(frozen=True)
class Churn:
    """A dimension of ``keys`` keys; the second snapshot changes, adds and drops some."""

    keys: int
    changed: int
    new: int
    deleted: int

    @classmethod
    def percent(cls, keys: int) -> Churn:
        """1% changed, 0.1% new, 0.1% deleted: the issue's churn."""
        return cls(keys, max(keys // 100, 1), max(keys // 1000, 1), max(keys // 1000, 1))


# --------------------------------------------------------------------------- caching


def _generated(folder: Path, request: dict[str, object], make: Callable[[Path], None]) -> Path:
    """``folder`` holding the data set for ``request``, generated unless already there.

    Under a lock of the folder's own: two runs of the harness at once (the test suite's
    workers) wait for one another instead of generating into the same folder."""
    marker = folder / MARKER
    wanted = json.dumps(request, sort_keys=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == wanted:
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        partial = folder.with_name(folder.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        make(partial)
        (partial / MARKER).write_text(wanted)
        partial.rename(folder)
    return folder


def _engine() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:", config={"preserve_insertion_order": True})


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path, options: str) -> None:
    con.execute(f"COPY ({query}) TO '{path}' ({options})")


# --------------------------------------------------------------------------- wide CSV

WIDE_FILE = "leads.csv"

# A leads-like file: 1 in 20 e-mails missing, 1 in 2000 malformed; 1 in 2000 capacities
# negative. The contract quarantines those rows (about 0.1%). Every value has a valid type,
# so the floors (typed read_csv, typed COPY) load the file as it is.
WIDE_QUERY = """
SELECT
  i AS lead_id,
  'Company ' || (hash(i, 1) % 500000)::VARCHAR || ' '
    || ['LLC', 'INC', 'CO', 'GROUP', 'PARTNERS'][1 + (hash(i, 2) % 5)::INTEGER] AS company,
  CASE WHEN hash(i, 3) % 20 = 0 THEN NULL
       WHEN hash(i, 3) % 2000 = 1 THEN 'not-an-email'
       ELSE 'contact' || (hash(i, 4) % 1000000)::VARCHAR || '@example'
            || (hash(i, 5) % 100)::VARCHAR || '.com' END AS email,
  format('{}-{}-{}', 200 + hash(i, 6) % 800, 100 + hash(i, 7) % 900, 1000 + hash(i, 8) % 9000)
    AS phone,
  ['NV', 'OK', 'TX', 'CA', 'AZ', 'UT', 'NM', 'CO', 'OR', 'WA'][1 + (hash(i, 9) % 10)::INTEGER]
    AS state,
  CASE WHEN hash(i, 10) % 33 = 0 THEN NULL
       WHEN hash(i, 10) % 2000 = 7 THEN -1 - (hash(i, 11) % 50)::INTEGER
       ELSE (hash(i, 11) % 500)::INTEGER END AS capacity,
  CASE WHEN hash(i, 12) % 100 = 0 THEN NULL
       ELSE strftime(DATE '2005-01-01' + (hash(i, 13) % 7000)::INTEGER, '%m/%d/%Y') END
    AS signed_up,
  CASE WHEN hash(i, 14) % 50 = 0 THEN NULL
       ELSE ((hash(i, 15) % 100000000)::DECIMAL(18, 0) / 100)::DECIMAL(12, 2) END AS revenue
FROM range(1, $rows + 1) AS t(i)
ORDER BY i
"""


def wide(rows: int) -> Path:
    """The wide CSV of ``rows`` rows (10M rows is about 1 GB)."""

    def make(folder: Path) -> None:
        with _engine() as con:
            query = WIDE_QUERY.replace("$rows", str(int(rows)))
            _copy(con, query, folder / WIDE_FILE, "HEADER, DELIMITER ','")

    return _generated(DATA_ROOT / f"wide-{rows}", {"wide": rows}, make) / WIDE_FILE


# --------------------------------------------------------------------------- churn

SNAPSHOT_0, SNAPSHOT_1, DELTA = "customers_0.csv", "customers_1.csv", "customers_delta.csv"

CUSTOMER = """
SELECT
  'C' || lpad(k::VARCHAR, 9, '0') AS customer_id,
  'Customer ' || (hash(k, 21) % 1000000)::VARCHAR AS name,
  'c' || k::VARCHAR || '@example.com' AS email,
  ['Reno', 'Tulsa', 'Austin', 'Fresno', 'Tucson', 'Provo', 'Taos', 'Boulder', 'Salem', 'Tacoma']
    [1 + (hash(k, 22, v) % 10)::INTEGER] AS city,
  ['health', 'sports', 'beauty', 'food'][1 + (hash(k, 23, v) % 4)::INTEGER] AS segment,
  ((hash(k, 24, v) % 10000000)::DECIMAL(18, 0) / 100)::DECIMAL(12, 2) AS credit_limit,
  DATE '2015-01-01' + (hash(k, 25) % 3000)::INTEGER AS customer_since
"""


def _customers(keys: str, version: str) -> str:
    """The customer rows of the keys ``keys`` (a query giving k), as of ``version`` (an
    expression over k: 0 for the first snapshot's values, 1 for the changed ones)."""
    return f"{CUSTOMER} FROM (SELECT k, {version} AS v FROM ({keys}) AS keys(k))"


def churn_queries(spec: Churn) -> dict[str, str]:
    """SQL of the three files: snapshot 0, snapshot 1 and the delta between them."""
    every_change = max(spec.keys // spec.changed, 1)
    every_delete = max(spec.keys // spec.deleted, 1)
    all_keys = f"SELECT * FROM range(1, {spec.keys + 1})"
    new_keys = f"SELECT * FROM range({spec.keys + 1}, {spec.keys + spec.new + 1})"
    changed = f"hash(k, 26) % {every_change} = 0"
    deleted = f"hash(k, 27) % {every_delete} = 1 AND NOT ({changed})"
    kept = f"SELECT * FROM ({all_keys}) AS a(k) WHERE NOT ({deleted})"
    changed_keys = f"SELECT * FROM ({all_keys}) AS a(k) WHERE {changed}"
    version = f"CASE WHEN {changed} THEN 1 ELSE 0 END"
    return {
        SNAPSHOT_0: f"{_customers(all_keys, '0')} ORDER BY customer_id",
        SNAPSHOT_1: (
            f"SELECT * FROM ({_customers(kept, version)}"
            f" UNION ALL {_customers(new_keys, '1')}) ORDER BY customer_id"
        ),
        DELTA: (
            f"SELECT * FROM ({_customers(changed_keys, '1')}"
            f" UNION ALL {_customers(new_keys, '1')}) ORDER BY customer_id"
        ),
    }


def churn(spec: Churn) -> Path:
    """The folder of the churn files for ``spec``."""

    def make(folder: Path) -> None:
        with _engine() as con:
            for name, query in churn_queries(spec).items():
                _copy(con, query, folder / name, "HEADER, DELIMITER ','")

    name = f"churn-{spec.keys}-{spec.changed}-{spec.new}-{spec.deleted}"
    return _generated(DATA_ROOT / name, {"churn": asdict(spec)}, make)


# --------------------------------------------------------------------------- small files

SMALL_NAME = "events.jsonl.gz"
STATUSES = ("new", "paid", "shipped", "returned")


def small_file_rows(rng: random.Random, first_id: int, hour_start: str) -> list[dict[str, object]]:
    """10-100 event records of one hour."""
    return [
        {
            "event_id": first_id + n,
            "event_time": f"{hour_start}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
            "customer_id": f"{rng.randrange(1_000_000):06d}",
            "amount": f"{rng.randrange(100, 100_000) / 100:.2f}",
            "status": rng.choice(STATUSES),
        }
        for n in range(rng.randint(10, 100))
    ]


def small(files: int) -> Path:
    """``files`` gzipped JSON Lines files, one per hour, in partition folders."""

    def make(folder: Path) -> None:
        rng = random.Random(4)
        next_id = 1
        for index in range(files):
            day = date(2024, 1, 1) + timedelta(days=index // 24)
            hour = index % 24
            path = folder / "landing" / f"date={day.isoformat()}" / f"hour={hour:02d}" / SMALL_NAME
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = small_file_rows(rng, next_id, f"{day.isoformat()}T{hour:02d}")
            next_id += len(rows)
            lines = "".join(json.dumps(row) + "\n" for row in rows).encode()
            path.write_bytes(gzip.compress(lines, compresslevel=6, mtime=0))

    return _generated(DATA_ROOT / f"small-{files}", {"small": files}, make) / "landing"


def small_rows(landing: Path) -> int:
    """Records in all the small files."""
    return sum(
        gzip.decompress(path.read_bytes()).count(b"\n") for path in landing.rglob(f"*{SMALL_NAME}")
    )


# --------------------------------------------------------------------------- nested JSON

NESTED_FILE = "orders.jsonl"

NESTED_QUERY = """
SELECT
  'O' || lpad(p::VARCHAR, 9, '0') AS order_id,
  lpad((hash(p, 31) % 1000000)::VARCHAR, 6, '0') AS customer_id,
  strftime(TIMESTAMP '2024-01-01' + to_seconds((hash(p, 32) % 31536000)::BIGINT),
           '%Y-%m-%dT%H:%M:%S') AS ordered_at,
  ['web', 'store', 'phone'][1 + (hash(p, 33) % 3)::INTEGER] AS channel,
  list_transform(
    range(1, 2 + (hash(p, 34) % 10)::INTEGER),
    lambda n: {
      'sku': (hash(p, n, 35) % 50000)::INTEGER,
      'quantity': 1 + (hash(p, n, 36) % 5)::INTEGER,
      'price': printf('%.2f', (hash(p, n, 37) % 10000) / 100)
    }
  ) AS items
FROM range(1, $parents + 1) AS t(p)
ORDER BY p
"""


def nested(parents: int) -> Path:
    """JSON Lines of ``parents`` orders, each with 1-10 items."""

    def make(folder: Path) -> None:
        with _engine() as con:
            query = NESTED_QUERY.replace("$parents", str(int(parents)))
            _copy(con, query, folder / NESTED_FILE, "FORMAT json")

    return _generated(DATA_ROOT / f"nested-{parents}", {"nested": parents}, make) / NESTED_FILE


def nested_children(path: Path) -> int:
    """Items in all the orders of the file."""
    with _engine() as con:
        query = "SELECT sum(len(items)) FROM read_json(?, format = 'newline_delimited')"
        row = con.execute(query, [str(path)]).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
