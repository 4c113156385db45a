"""A small shop project for the Dagster tests: customers (scd2) and their orders, a model
over the orders, an erasure-request source, schedules and a freshness expectation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FILES = {
    "tidegate.yml": """\
warehouse: {type: duckdb, path: warehouse.duckdb}
settle_seconds: 0
privacy: {secret: "${SHOP_SECRET:-a-test-secret-of-some-length}"}
schedules:
  customers_hourly: {cron: "0 * * * *", sources: [customers], timezone: Europe/Zagreb}
  orders_daily: {cron: "0 0 * * *", targets: [orders]}
""",
    "targets/customers.yml": """\
columns:
  id:    {type: integer, required: true}
  name:  {type: varchar, required: true}
  email: {type: varchar, pattern: '^[^@]+@[^@]+$'}
key: [id]
load: scd2
reject_file_over: 50%
subject: {column: id, identifiers: [email]}
""",
    "targets/orders.yml": """\
columns:
  order_id:    {type: integer, required: true}
  customer_id: {type: integer, required: true}
  amount:      {type: "decimal(10,2)", check: "amount > 0"}
key: [order_id]
load: append
references:
  - {columns: [customer_id], target: customers, target_columns: [id]}
""",
    "targets/erasure_requests.yml": """\
columns:
  id: {type: varchar, required: true}
load: erase
subject: {of: customers}
""",
    "sources/customers.yml": """\
match: "customers*.csv"
expect_every: 1h
outputs:
  - target: customers
    columns: {id: id, name: name, email: email}
""",
    "sources/orders.yml": """\
match: "orders*.csv"
outputs:
  - target: orders
    columns: {order_id: order_id, customer_id: customer_id, amount: amount}
""",
    "sources/erasure_requests.yml": """\
match: "erase*.csv"
outputs:
  - target: erasure_requests
    columns: {id: id}
""",
    "models/order_totals.sql": """\
SELECT customer_id, sum(amount) AS total FROM core.orders GROUP BY customer_id
""",
}

CUSTOMERS = "id,name,email\n1,Ada,ada@example.org\n2,Alan,alan@example.org\n3,Bad,not-an-email\n"
ORDERS = "order_id,customer_id,amount\n10,1,5.00\n11,2,7.50\n"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "landing").mkdir()
    return root


def land(root: Path, name: str, text: str, age_seconds: float = 0) -> Path:
    path = root / "landing" / name
    path.write_text(text, encoding="utf-8")
    if age_seconds:
        stat = path.stat()
        os.utime(path, (stat.st_atime - age_seconds, stat.st_mtime - age_seconds))
    return path
