"""The cost of an erasure: one subject erased from a warehouse of N customers and N orders.

``python -m bench.erasure [--rows 1000000 10000000] [--warehouse duckdb postgres]
[--postgres URL] [--results FILE]``

Each case builds a fresh project (a customers target with a subject, hashed email and
tokenized name; an orders target that belongs to it; the raw layer and the subject index
kept), loads a small file through tidegate so every table and index is tidegate's own,
then grows it to N rows per table in the warehouse itself (generated rows, like the loaded
ones, each in the subject index). Two steps are measured, each as its own process, as a
user would wait for them: ``tidegate erase --no-rewrite`` (the transaction: find the
person everywhere, delete or anonymise) and the next ``tidegate run`` with nothing landed,
which does the one rewrite of the storage that all erasures since the last one share.
A run with nothing to do is measured first: the floor under both (interpreter, imports,
the project, the connection).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import measure
from bench.postgres import fresh_database, server

SECRET = "bench-erasure-secret-0123456789"
VAULT_KEY = "bench-erasure-vault-key-0123456789"
SUBJECT = "000000042"  # one of the generated customers

PROJECT = """\
{warehouse}
settle_seconds: 0
privacy:
  secret: ${{TIDEGATE_SECRET}}
  vault_key: ${{TIDEGATE_VAULT_KEY}}
"""
FILES = {
    "targets/customers.yml": """\
columns:
  id:    {type: varchar, required: true}
  name:  {type: varchar, pii: tokenize}
  email: {type: varchar, pii: hash}
  city:  {type: varchar}
key: [id]
subject: {column: id, identifiers: [email]}
erase: delete
""",
    "targets/orders.yml": """\
columns:
  order_id:    {type: varchar, required: true}
  customer_id: {type: varchar, required: true}
  total:       {type: "decimal(10,2)"}
key: [order_id]
subject: {column: customer_id, of: customers}
erase: anonymise
""",
    "sources/customers.yml": """\
match: "customers*.csv"
outputs:
  - target: customers
    columns: {id: id, name: name, email: email, city: city}
""",
    "sources/orders.yml": """\
match: "orders*.csv"
outputs:
  - target: orders
    columns: {order_id: order_id, customer_id: customer_id, total: total}
""",
    "landing/customers_0.csv": "id,name,email,city\nseed,Seed Person,seed@example.org,Here\n",
    "landing/orders_0.csv": "order_id,customer_id,total\nseed-o,seed,1.00\n",
}

# Generated rows, from a number series ``i``, in each warehouse's SQL. Text columns only
# (what the seed row holds elsewhere is copied from it), so one statement serves both.
GROW = {
    "core.customers": {
        "id": "lpad(CAST(i AS VARCHAR), 9, '0')",
        "name": "'tok_' || substr(md5(CAST(i AS VARCHAR)), 1, 24)",
        "email": "md5(CAST(i AS VARCHAR)) || md5(CAST(-i AS VARCHAR))",
        "_row": "i",
    },
    "raw.customers": {
        "id": "lpad(CAST(i AS VARCHAR), 9, '0')",
        "name": "'tok_' || substr(md5(CAST(i AS VARCHAR)), 1, 24)",
        "email": "md5(CAST(i AS VARCHAR)) || md5(CAST(-i AS VARCHAR))",
        "_row": "i",
    },
    "core.orders": {
        "order_id": "'o' || CAST(i AS VARCHAR)",
        "customer_id": "lpad(CAST(i AS VARCHAR), 9, '0')",
        "_row": "i",
    },
    "raw.orders": {
        "order_id": "'o' || CAST(i AS VARCHAR)",
        "customer_id": "lpad(CAST(i AS VARCHAR), 9, '0')",
        "_row": "i",
    },
}
SERIES = {
    "duckdb": "range({first}, {last} + 1) AS s(i)",
    "postgres": "generate_series({first}, {last}) AS s(i)",
}
# Rows generated per transaction: DuckDB holds a transaction's index entries in memory
# (tidegate caps the warehouse connection's memory), so 10M rows go in slices.
SLICE_ROWS = 1_000_000
INDEX = "subject_records"  # tidegate's subject index, grown with the records


def project(root: Path, warehouse_line: str) -> Path:
    (root / "landing").mkdir(parents=True)
    (root / "tidegate.yml").write_text(PROJECT.format(warehouse=warehouse_line))
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def env() -> dict[str, str]:
    repo = Path(__file__).resolve().parent.parent
    return {
        "TIDEGATE_SECRET": SECRET,
        "TIDEGATE_VAULT_KEY": VAULT_KEY,
        "PYTHONPATH": str(repo / "src"),
    }


def tidegate(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tidegate.cli", *args, "--project", str(root)]


def grow(root: Path, kind: str, rows: int) -> None:
    """N rows in each table, copied from the seed row with generated values, and one
    subject index row per generated customer record and order record."""
    from sqlglot import exp, parse_one

    from tidegate.config import load_project
    from tidegate.warehouse import connect

    os.environ.update(env())
    with connect(load_project(root)) as wh, wh.transaction():
        tables = [tuple(name.split(".")) for name in GROW] + [(wh.schemas.meta, INDEX)]
        for schema, name in tables:  # the seed rows, kept apart while the tables grow
            seed = exp.select(exp.Star()).from_(exp.table_(name, schema, quoted=True))
            wh.execute(exp.Create(this=_seed(name, schema), kind="TABLE", expression=seed))
    for first in range(1, rows + 1, SLICE_ROWS):
        last = min(first + SLICE_ROWS - 1, rows)
        series = parse_one(
            f"SELECT * FROM {SERIES[kind].format(first=first, last=last)}", read=kind
        )
        with connect(load_project(root)) as wh, wh.transaction():
            _grow_slice(wh, series)
    with connect(load_project(root)) as wh:  # what a load leaves: a checkpointed file
        for schema, name in tables:
            seeds = wh.count(f"_bench_seed_{name}", schema)
            if wh.count(name, schema) != seeds * (rows + 1):
                raise RuntimeError(f"{schema}.{name}: not grown to {rows} rows per seed row")
            wh.execute(exp.Drop(tables=[_seed(name, schema)], kind="TABLE", exists=True))
        if kind == "duckdb":
            wh.execute(exp.Command(this="CHECKPOINT"))


def _seed(name: str, schema: str) -> Any:
    from sqlglot import exp

    return exp.table_(f"_bench_seed_{name}", schema, quoted=True)


def _grow_slice(wh: Any, series: Any) -> None:
    """One slice of the number series into every table, from the seed rows."""
    from sqlglot import exp, parse_one

    for name, generated in GROW.items():
        schema, table = name.split(".")
        columns = list(wh.columns_of(table, schema) or {})
        values = [
            parse_one(generated[c], read="duckdb").as_(c, quoted=True)
            if c in generated
            else exp.column(c, "seed", quoted=True)
            for c in columns
        ]
        query = series.copy().select(*values, append=False)
        query = query.join(_seed(table, schema).as_("seed"), join_type="cross")
        names = [exp.to_identifier(c, quoted=True) for c in columns]
        wh.execute(exp.insert(query, exp.table_(table, schema, quoted=True), columns=names))
    index = exp.table_(INDEX, wh.schemas.meta, quoted=True)
    columns = list(wh.columns_of(INDEX, wh.schemas.meta) or {})
    values = [
        exp.column(c, "seed", quoted=True)
        if c in ("file_id", "target")
        else parse_one("i" if c == "row" else "md5(CAST(i AS VARCHAR))", read="duckdb").as_(
            c, quoted=True
        )
        for c in columns
    ]
    query = series.copy().select(*values, append=False)
    query = query.join(_seed(INDEX, wh.schemas.meta).as_("seed"), join_type="cross")
    names = [exp.to_identifier(c, quoted=True) for c in columns]
    wh.execute(exp.insert(query, index, columns=names))


@contextmanager
def warehouse(kind: str, postgres: str | None, folder: Path) -> Iterator[str]:
    if kind == "duckdb":
        yield "warehouse: {type: duckdb, path: warehouse.duckdb}"
        return
    assert postgres is not None
    with fresh_database(postgres) as url:
        yield f'warehouse: {{type: postgres, url: "{url}"}}'


def one_case(kind: str, rows: int, postgres: str | None, log: Any) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="tidegate-erasure-"))
    try:
        with warehouse(kind, postgres, folder) as line:
            root = project(folder / "shop", line)
            loaded = measure(tidegate(root, "run"), root, env())
            if loaded.returncode != 0:
                raise RuntimeError(loaded.stderr[-2000:])
            grow(root, kind, rows)
            size = _size(root, kind)
            idle = measure(tidegate(root, "run"), root, env())  # nothing to do: the floor
            erase = tidegate(root, "erase", "--subject", f"id={SUBJECT}", "--no-rewrite")
            erased = measure(erase, root, env())
            if erased.returncode != 0:
                raise RuntimeError(erased.stderr[-2000:])
            rewritten = measure(tidegate(root, "run"), root, env())
            if rewritten.returncode != 0:
                raise RuntimeError(rewritten.stderr[-2000:])
        result = {
            "warehouse": kind,
            "rows": rows,
            "erase_seconds": round(erased.seconds, 2),
            "rewrite_seconds": round(rewritten.seconds, 2),
            "idle_run_seconds": round(idle.seconds, 2),
            "total_seconds": round(erased.seconds + rewritten.seconds, 2),
            "bytes": size,
        }
        log(json.dumps(result))
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _size(root: Path, kind: str) -> int | None:
    file = root / "warehouse.duckdb"
    return file.stat().st_size if kind == "duckdb" and file.exists() else None


def markdown(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| warehouse | rows per table | erase --no-rewrite | next run (the rewrite)"
        " | a run with nothing to do | total |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['warehouse']} | {r['rows']:,} | {r['erase_seconds']} s"
            f" | {r['rewrite_seconds']} s | {r['idle_run_seconds']} s | {r['total_seconds']} s |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.erasure")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--warehouse", nargs="+", default=["duckdb", "postgres"])
    parser.add_argument("--postgres", help="a server URL (default: start a local one)")
    parser.add_argument("--results", type=Path, help="append each case's result here")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)
        if args.results:
            with args.results.open("a") as handle:
                handle.write(text + "\n")

    results = []
    with server(args.postgres) if "postgres" in args.warehouse else _none() as url:
        for rows in args.rows:
            for kind in args.warehouse:
                results.append(one_case(kind, rows, url, log))
    print(markdown(results))
    return 0


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    raise SystemExit(main())
