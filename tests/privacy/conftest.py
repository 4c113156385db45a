"""A small shop with personal data, written by the tests, and a search for a person."""

from __future__ import annotations

import gzip
import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from .. import command_line

SECRET = "a-long-test-secret-0123456789"
VAULT_KEY = "a-long-test-vault-key-0123456789"

PROJECT = """\
warehouse: {type: duckdb, path: warehouse.duckdb}
settle_seconds: 0
privacy:
  secret: ${TIDEGATE_SECRET}
  vault_key: ${TIDEGATE_VAULT_KEY:-}
  raw_pii: protect
"""

CUSTOMERS = """\
columns:
  id:      {type: varchar, required: true}
  name:    {type: varchar, pii: tokenize}
  email:   {type: varchar, pii: hash, pattern: '^[^@]+@[^@]+$'}
  phone:   {type: varchar, pii: mask, mask: {keep_last: 4}}
  born:    {type: date, pii: drop}
  city:    {type: varchar}
key: [id]
subject: {column: id, identifiers: [email]}
erase: delete
"""

ORDERS = """\
columns:
  order_id:    {type: varchar, required: true}
  customer_id: {type: varchar, required: true}
  total:       {type: "decimal(10,2)"}
key: [order_id]
references:
  - {columns: [customer_id], target: customers, target_columns: [id]}
subject: {column: customer_id, of: customers}
erase: anonymise
"""

ORDER_LINES = """\
columns:
  order_id: {type: varchar, required: true}
  sku:      {type: integer}
  qty:      {type: integer, min: 1}
subject: {column: order_id, of: orders}
erase: anonymise
"""

REQUESTS = """\
columns:
  customer_id: {type: varchar, pii: hash}
  email:       {type: varchar, pii: hash}
load: erase
duplicates: keep
"""

CUSTOMER_SOURCE = """\
match: "customers*.csv"
outputs:
  - target: customers
    columns: {id: '"ID"', name: '"Name"', email: lower("Email"), phone: '"Phone"', born: '"Born"',
              city: '"City"'}
"""

ORDER_SOURCE = """\
match: "orders*.jsonl"
outputs:
  - target: orders
    columns: {order_id: order_id, customer_id: customer_id, total: total}
  - target: order_lines
    unnest: "from_json(items, '[\\"JSON\\"]')"
    columns: {order_id: order_id, sku: "item->>'sku'", qty: "item->>'qty'"}
"""

REQUEST_SOURCE = """\
match: "erasure*.json*"
outputs:
  - target: erasure_requests
    columns: {customer_id: '"customer-id"', email: email}
"""

FILES = {
    "tidegate.yml": PROJECT,
    "targets/customers.yml": CUSTOMERS,
    "targets/orders.yml": ORDERS,
    "targets/order_lines.yml": ORDER_LINES,
    "targets/erasure_requests.yml": REQUESTS,
    "sources/customers.yml": CUSTOMER_SOURCE,
    "sources/orders.yml": ORDER_SOURCE,
    "sources/erasure.yml": REQUEST_SOURCE,
}

# Ada is the person erased in the tests; her values must vanish. Alan stays.
ADA = {
    "id": "067318",
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "phone": "+44 20 7946 0001",
}
CUSTOMERS_CSV = (
    "ID,Name,Email,Phone,Born,City\n"
    "067318,Ada Lovelace,ada@example.org,+44 20 7946 0001,1815-12-10,London\n"
    "000002,Alan Turing,alan@example.org,+44 20 7946 0002,1912-06-23,Wilmslow\n"
    "000003,Grace Hopper,not-an-email,+1 212 555 0003,1906-12-09,New York\n"
)
ORDERS_JSONL = [
    {"order_id": "o1", "customer_id": "067318", "total": "10.50", "items": [{"sku": 1, "qty": 2}]},
    {"order_id": "o2", "customer_id": "000002", "total": "5.00", "items": [{"sku": 3, "qty": 1}]},
    {"order_id": "o3", "customer_id": "067318", "total": "7.00", "items": [{"sku": 4, "qty": 0}]},
    {"order_id": "o4", "customer_id": "067318", "total": "2.25", "items": [{"sku": 2, "qty": 1}]},
]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEGATE_SECRET", SECRET)
    monkeypatch.setenv("TIDEGATE_VAULT_KEY", VAULT_KEY)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = write(tmp_path / "shop", FILES)
    write(
        root / "landing", {"customers_1.csv": CUSTOMERS_CSV, "orders_1.jsonl": jsonl(ORDERS_JSONL)}
    )
    return root


def tidegate(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command line on the project at root, in this process unless a fault is set."""
    return command_line.tidegate([*args, "--project", str(root)], env)


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def every_value(root: Path) -> Iterator[tuple[str, str]]:
    """(schema.table, value as text) for every cell of every table in every schema."""
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, name in tables:
            for row in con.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall():
                for value in row:
                    if value is not None:
                        yield f"{schema}.{name}", str(value)


def archived_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(path, decompressed text) of every archived file."""
    for path in sorted((root / "archive").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            yield path.relative_to(root).as_posix(), data.decode("utf-8", errors="replace")


def found(needles: list[str], haystack: Iterator[tuple[str, str]]) -> list[tuple[str, str]]:
    """Where any needle occurs as a substring."""
    return [(where, n) for where, text in haystack for n in needles if n in text]


# Two targets that hold a customer's id but declare no subject: tickets by the key's name,
# invoices by mapping lineage (``buyer`` is mapped from the orders' customer_id).
TICKETS = """\
columns:
  ticket_id:   {type: varchar, required: true}
  customer_id: {type: varchar}
  priority:    {type: integer, min: 1}
key: [ticket_id]
"""

INVOICES = """\
columns:
  order_id: {type: varchar, required: true}
  buyer:    {type: varchar}
  total:    {type: "decimal(10,2)", check: "total < 10"}
"""

TICKET_SOURCE = """\
match: "tickets*.jsonl"
outputs:
  - target: tickets
    columns: {ticket_id: ticket_id, customer_id: customer_id, priority: priority}
"""

ORDER_SOURCE_WITH_INVOICES = (
    ORDER_SOURCE
    + """\
  - target: invoices
    columns: {order_id: order_id, buyer: customer_id, total: total}
"""
)

TICKETS_JSONL = [
    {"ticket_id": "t1", "customer_id": "067318", "priority": 1},
    {"ticket_id": "t2", "customer_id": "067318", "priority": 0},  # quarantined
    {"ticket_id": "t3", "customer_id": "000002", "priority": 0},  # quarantined
]

UNDECLARED = {
    "targets/tickets.yml": TICKETS,
    "targets/invoices.yml": INVOICES,
    "sources/tickets.yml": TICKET_SOURCE,
    "sources/orders.yml": ORDER_SOURCE_WITH_INVOICES,
}


def shop_on(root: Path, warehouse_line: str, extra: dict[str, str] | None = None) -> Path:
    """The shop (with ``extra`` files) on another warehouse, its files landed."""
    files = {**FILES, **(extra or {})}
    files["tidegate.yml"] = PROJECT.replace(
        "warehouse: {type: duckdb, path: warehouse.duckdb}", warehouse_line
    )
    write(root, files)
    landed = {"customers_1.csv": CUSTOMERS_CSV, "orders_1.jsonl": jsonl(ORDERS_JSONL)}
    if extra and "sources/tickets.yml" in extra:
        landed["tickets_1.jsonl"] = jsonl(TICKETS_JSONL)
    write(root / "landing", landed)
    return root


def rows_of(root: Path, kind: str, name: str, without: frozenset[str] = frozenset()) -> Any:
    """Every row of ``kind`` (core, raw, meta) ``name`` in any warehouse, as sorted dicts of
    text; None when the table does not exist."""
    from sqlglot import exp

    from tidegate.config import load_project
    from tidegate.sql import col, table
    from tidegate.warehouse import connect

    with connect(load_project(root)) as wh:
        schema = getattr(wh.schemas, kind)
        columns = wh.columns_of(name, schema)
        if columns is None:
            return None
        kept = sorted(c for c in columns if c not in without)
        found = wh.execute(exp.select(*[col(c) for c in kept]).from_(table(name, schema)))
    rows = [{c: _text(v) for c, v in zip(kept, row, strict=True)} for row in found]
    return sorted(rows, key=repr)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
