"""The tidegate projects the benchmark runs: a realistic contract per data set.

Each contract maps and trims columns, casts every value to its declared type, checks rules
(required, pattern, allowed, min, check), quarantines failing rows, and keeps the defaults
a user gets: the raw layer (``keep_raw``), the ledger, and gzip archiving of every file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from bench import spark

PROJECT = """\
warehouse: WAREHOUSE
landing: landing
archive: archive
rejected: rejected
settle_seconds: 0
"""

LEADS_TARGET = r"""
columns:
  lead_id:   {type: bigint, required: true}
  company:   {type: varchar, required: true}
  email:     {type: varchar, pattern: '^[^@\s]+@[^@\s]+\.[a-z]{2,}$'}
  phone:     {type: varchar, required: true, pattern: '^\d{10}$'}
  state:     {type: varchar, required: true, allowed: [NV, OK, TX, CA, AZ, UT, NM, CO, OR, WA]}
  capacity:  {type: integer, min: 0, check: "capacity <= 10000"}
  signed_up: {type: date, formats: ['%m/%d/%Y']}
  revenue:   {type: "decimal(12,2)", min: 0}
key: [lead_id]
load: append
reject_file_over: 10%
"""

LEADS_SOURCE = """
match: "leads*.csv"
format: csv
outputs:
  - target: leads
    columns:
      lead_id: lead_id
      company: trim(company)
      email: lower(trim(email))
      phone: regexp_replace(phone, '[^0-9]', '', 'g')
      state: upper(trim(state))
      capacity: capacity
      signed_up: signed_up
      revenue: revenue
"""

CUSTOMERS_TARGET = r"""
columns:
  customer_id:    {type: varchar, required: true, pattern: '^C\d{9}$'}
  name:           {type: varchar, required: true}
  email:          {type: varchar, pattern: '^[^@\s]+@[^@\s]+$'}
  city:           {type: varchar}
  segment:        {type: varchar, allowed: [health, sports, beauty, food]}
  credit_limit:   {type: "decimal(12,2)", min: 0}
  customer_since: {type: date}
key: [customer_id]
load: LOAD
history: {track: all, deletes: DELETES}
reject_file_over: 10%
"""

CUSTOMERS_SOURCE = """
match: "customers*.csv"
format: csv
outputs:
  - target: customers
    columns:
      customer_id: customer_id
      name: trim(name)
      email: lower(email)
      city: city
      segment: segment
      credit_limit: credit_limit
      customer_since: customer_since
"""

EVENTS_TARGET = r"""
columns:
  event_id:    {type: bigint, required: true}
  event_time:  {type: timestamp, required: true}
  customer_id: {type: varchar, required: true, pattern: '^\d{6}$'}
  amount:      {type: "decimal(12,2)", min: 0}
  status:      {type: varchar, allowed: [new, paid, shipped, returned]}
  event_date:  {type: date, required: true}
  event_hour:  {type: integer, min: 0, max: 23}
key: [event_id]
load: append
"""

EVENTS_SOURCE = """
match: "events*.jsonl.gz"
format: jsonl
outputs:
  - target: events
    columns:
      event_id: event_id
      event_time: event_time
      customer_id: customer_id
      amount: amount
      status: lower(status)
      event_date: _file.date
      event_hour: _file.hour
"""

ORDERS_TARGET = r"""
columns:
  order_id:    {type: varchar, required: true, pattern: '^O\d{9}$'}
  customer_id: {type: varchar, required: true}
  ordered_at:  {type: timestamp, required: true}
  channel:     {type: varchar, allowed: [web, store, phone]}
  item_count:  {type: integer, min: 1}
key: [order_id]
load: append
"""

ORDER_ITEMS_TARGET = """
columns:
  order_id: {type: varchar, required: true}
  line:     {type: integer, required: true}
  sku:      {type: integer, required: true}
  quantity: {type: integer, min: 1, max: 100}
  price:    {type: "decimal(10,2)", min: 0}
key: [order_id, line]
load: append
"""

ORDERS_SOURCE = """
match: "orders*.jsonl"
format: jsonl
outputs:
  - target: orders
    columns:
      order_id: order_id
      customer_id: customer_id
      ordered_at: ordered_at
      channel: channel
      item_count: json_array_length(items)
  - target: order_items
    unnest: "from_json(items, '[\\"JSON\\"]')"
    columns:
      order_id: order_id
      line: _item
      sku: "item->>'sku'"
      quantity: "item->>'quantity'"
      price: "item->>'price'"
"""


def warehouse_setting(postgres_url: str | None, warehouse: str = "duckdb") -> str:
    """The ``warehouse:`` value of tidegate.yml: the embedded DuckDB file, a server, or a
    local Spark (``spark-N``, bench/spark.py)."""
    if spark.is_spark(warehouse):
        return spark.warehouse_setting(warehouse)
    if postgres_url:
        return f"{{type: postgres, url: '{postgres_url}'}}"
    return "{type: duckdb, path: warehouse.duckdb}"


def contract(kind: str, load: str = "scd2", deletes: str = "ignore") -> dict[str, str]:
    """The targets and sources of one data set, by relative path."""
    if kind == "wide":
        return {"targets/leads.yml": LEADS_TARGET, "sources/leads.yml": LEADS_SOURCE}
    if kind == "churn":
        target = CUSTOMERS_TARGET.replace("LOAD", load).replace("DELETES", deletes)
        return {"targets/customers.yml": target, "sources/customers.yml": CUSTOMERS_SOURCE}
    if kind == "small":
        return {"targets/events.yml": EVENTS_TARGET, "sources/events.yml": EVENTS_SOURCE}
    if kind == "nested":
        return {
            "targets/orders.yml": ORDERS_TARGET,
            "targets/order_items.yml": ORDER_ITEMS_TARGET,
            "sources/orders.yml": ORDERS_SOURCE,
        }
    raise ValueError(f"no contract for data set {kind!r}")


def write_project(
    root: Path,
    files: dict[str, str],
    postgres_url: str | None,
    keep_raw: bool = True,
    warehouse: str = "duckdb",
) -> Path:
    """A project folder at ``root`` with these contract files and an empty landing;
    ``keep_raw=False`` turns the raw layer off (the one default the benchmark changes)."""
    settings = PROJECT.replace("WAREHOUSE", warehouse_setting(postgres_url, warehouse))
    contents = {"tidegate.yml": settings + ("" if keep_raw else "keep_raw: false\n")}
    for name, text in {**contents, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    (root / "landing").mkdir(exist_ok=True)
    return root
