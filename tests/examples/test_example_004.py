"""Example 004 (hourly shop events with erasure requests) on a slice of its real files.

The slice: the first day's products, the customers and transactions of three hours of
2020-01-01, then the real erasure request file of 2020-01-30, which asks to forget three
customers of those hours (067318, 405723, 263826) and five who are not in the slice.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tidegate.config import load_project
from tidegate.pipeline import RunResult, run

from ..pipeline.conftest import tidegate

# One pytest-xdist worker runs this module: it shares the module's loaded project.
pytestmark = pytest.mark.xdist_group("example_004")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "004-shop-events"
DAY = "date=2020-01-01"
SLICE = [f"{DAY}/hour=00/products.json.gz"] + [
    f"{DAY}/hour={hour}/{name}.json.gz"
    for hour in ("00", "01", "07")
    for name in ("customers", "transactions")
]
REQUESTS = "date=2020-01-30/hour=00/erasure-requests.json.gz"
ERASED = ("067318", "405723", "263826")


KEYS = {
    "TIDEGATE_SECRET": "example-004-test-secret-0123456789",
    "TIDEGATE_VAULT_KEY": "example-004-test-vault-key-0123456789",
}


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def land(root: Path, relative: str) -> None:
    destination = root / "landing" / relative
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE / "landing" / relative, destination)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice loaded once; each test works on a copy."""
    root = tmp_path_factory.mktemp("example_004") / "shop"
    for part in ("targets", "sources", "models"):
        shutil.copytree(EXAMPLE / part, root / part)
    config = (EXAMPLE / "tidegate.yml").read_text()
    (root / "tidegate.yml").write_text(config.replace("settle_seconds: 1", "settle_seconds: 0"))
    for relative in SLICE:
        land(root, relative)
    with pytest.MonkeyPatch.context() as env:
        for name, value in KEYS.items():
            env.setenv(name, value)
        load(root)
    return root


@pytest.fixture
def shop(loaded: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(loaded, tmp_path / "shop"))


def load(root: Path) -> RunResult:
    result = run(load_project(root))
    assert all(f.status in ("loaded", "duplicate") for f in result.files), result.files
    return result


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def records(relative: str) -> list[dict[str, Any]]:
    with gzip.open(EXAMPLE / "landing" / relative, "rt") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def person(customer_id: str) -> dict[str, Any]:
    return next(
        c
        for hour in ("00", "01", "07")
        for c in records(f"{DAY}/hour={hour}/customers.json.gz")
        if c["id"] == customer_id
    )


def values_of(customer: dict[str, Any]) -> list[str]:
    """What must never be found about a person: id, email, phone, names, address, birth date."""
    keys = ("email", "phone_number", "first_name", "last_name", "address", "date_of_birth")
    return [customer["id"], *(str(customer[k]) for k in keys if customer[k])]


def cells(root: Path) -> Iterator[tuple[str, str]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables")
        for schema, name in tables.fetchall():
            for row in con.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall():
                yield from ((f"{schema}.{name}", str(v)) for v in row if v is not None)


def in_tables(root: Path, customer: dict[str, Any]) -> list[tuple[str, str]]:
    """A value found as a whole cell, or quoted inside a JSON text."""
    needles = values_of(customer)
    return [
        (where, n)
        for where, text in cells(root)
        for n in needles
        if text == n or json.dumps(n) in text
    ]


def in_archives(root: Path, customer: dict[str, Any]) -> list[tuple[str, str]]:
    """A value found in an archived file (names only as the person's pair)."""
    needles = [json.dumps(customer["id"]), customer["email"]]
    needles += [customer["phone_number"]] if customer["phone_number"] else []
    needles += [json.dumps(customer["address"])[1:-1]]
    pair = f'"first_name": {json.dumps(customer["first_name"])}, "last_name": {json.dumps(customer["last_name"])}'
    found = []
    for path in (root / "archive").rglob("*.gz"):
        text = gzip.decompress(path.read_bytes()).decode()
        found += [(path.name, n) for n in [*needles, pair] if n in text]
    return found


def facts(root: Path) -> tuple[Any, ...]:
    [row] = query(
        root,
        "SELECT (SELECT count(*) FROM core.transactions), (SELECT sum(total_cost) FROM"
        " core.transactions), (SELECT count(*) FROM core.purchases), (SELECT sum(revenue)"
        " FROM marts.revenue_by_day)",
    )
    return tuple(row)


def test_the_slice_loads_with_the_exercise_checks(shop: Path) -> None:
    files = query(
        shop,
        "SELECT path, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate"
        " FROM tidegate.files",
    )
    by_path = {f[0]: f[1:] for f in files}
    assert by_path[f"{DAY}/hour=00/products.json.gz"] == ("loaded", 772, 767, 5, 0)
    assert {f[1] for f in files} == {"loaded"} and len(files) == len(SLICE)
    reasons = query(
        shop,
        "SELECT DISTINCT r.rule, r.column FROM tidegate.quarantine, unnest(from_json(reasons,"
        ' \'[{"rule":"VARCHAR","column":"VARCHAR"}]\')) AS t(r) WHERE source = \'products\'',
    )
    assert sorted(reasons) == [("check", "price"), ("required", "name")]
    for _, _, read, loaded, quarantined, duplicate in files:
        assert read == loaded + quarantined + duplicate
    assert query(
        shop, "SELECT record_date, record_hour FROM core.customers WHERE id = '067318'"
    ) == [(date(2020, 1, 1), 7)]
    # every loaded transaction adds up: the check total_cost = sum(price x quantity) held
    mismatched = query(
        shop,
        "SELECT count(*) FROM core.transactions t WHERE total_cost <> (SELECT sum(price *"
        " quantity) FROM core.purchases p WHERE p.transaction_id = t.transaction_id)",
    )
    assert mismatched == [(0,)]
    [(email, phone, first)] = query(
        shop, "SELECT email, phone_number, first_name FROM core.customers WHERE id = '808920'"
    )
    assert len(email) == 64 and phone.endswith("0808") and set(phone[:-4]) == {"*"}
    assert first.startswith("tok_")


def test_the_erasure_requests_forget_three_customers_everywhere(shop: Path) -> None:
    before = facts(shop)
    delivered = query(shop, "SELECT count(*) FROM core.delivery_addresses")[0][0]
    theirs = query(
        shop,
        "SELECT count(*) FROM core.transactions WHERE customer_id IN ('067318', '405723', '263826')",
    )[0][0]
    assert theirs > 0
    land(shop, REQUESTS)

    [requests] = load(shop).files

    assert (requests.status, requests.rows_read, requests.rows_loaded) == ("loaded", 8, 8)
    for customer_id in ERASED:
        customer = person(customer_id)
        assert in_tables(shop, customer) == []
        assert in_archives(shop, customer) == []
    assert facts(shop) == before  # transactions anonymised, not removed
    assert query(shop, "SELECT count(*) FROM core.delivery_addresses") == [(delivered - theirs,)]
    log = query(shop, "SELECT request_id, subject, touched FROM tidegate.erasures ORDER BY 1")
    assert len(log) == 8
    assert all(len(subject) >= 64 for _, subject, _ in log)


def test_redelivering_an_old_file_does_not_bring_them_back(shop: Path) -> None:
    land(shop, REQUESTS)
    load(shop)
    land(shop, f"{DAY}/hour=07/customers.json.gz")
    land(shop, f"{DAY}/hour=07/transactions.json.gz")

    again = load(shop).files

    assert {f.status for f in again} == {"duplicate"}
    for customer_id in ERASED:
        assert in_tables(shop, person(customer_id)) == []
        assert in_archives(shop, person(customer_id)) == []


def test_erase_from_the_command_line_says_nothing_personal(shop: Path) -> None:
    before = facts(shop)
    customer = person("808920")

    done = tidegate(shop, "erase", "--subject", f"email={customer['email']}")
    listing = tidegate(shop, "quarantine", "--json", "--all")

    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr + listing.stdout + listing.stderr
    assert [v for v in values_of(customer) if v in said] == []
    assert in_tables(shop, customer) == []
    assert in_archives(shop, customer) == []
    assert facts(shop) == before
