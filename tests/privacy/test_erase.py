"""Erasure end to end: a person leaves every table, history version, raw record,
quarantined row, vault entry, archived file and message; facts about them stay counted."""

from __future__ import annotations

import json
from pathlib import Path

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.privacy.keys import Keys

from .conftest import (
    ADA,
    CUSTOMERS_CSV,
    FILES,
    ORDERS_JSONL,
    SECRET,
    archived_texts,
    every_value,
    found,
    jsonl,
    query,
    tidegate,
    write,
)

NEEDLES = list(ADA.values())


def load(root: Path) -> None:
    result = run(load_project(root))
    assert all(f.status in ("loaded", "duplicate") for f in result.files), result.files


def revenue(root: Path) -> list[tuple[object, ...]]:
    return query(root, "SELECT count(*), sum(total) FROM core.orders")


def test_erase_by_id_leaves_no_trace_and_keeps_the_facts(shop: Path) -> None:
    load(shop)
    before = revenue(shop)
    assert query(shop, "SELECT count(*) FROM core.orders WHERE customer_id = '067318'") == [(2,)]

    done = tidegate(shop, "erase", "--subject", "customer_id=067318", "--json")

    assert done.returncode == 0, done.stderr
    assert not [n for n in NEEDLES if n in done.stdout + done.stderr]
    report = json.loads(done.stdout)
    assert report["touched"]["targets"]["customers"] == {"action": "delete", "rows": 1}
    assert report["touched"]["targets"]["orders"] == {"action": "anonymise", "rows": 2}
    assert report["touched"]["quarantine"] == 1  # o3: a bad quantity
    assert found(NEEDLES, every_value(shop)) == []
    assert found(NEEDLES, archived_texts(shop)) == []
    assert revenue(shop) == before
    assert query(shop, "SELECT count(*) FROM core.order_lines") == [(3,)]
    assert query(shop, "SELECT id FROM core.customers ORDER BY id") == [("000002",)]


def test_the_log_holds_a_keyed_hash_and_what_was_touched(shop: Path) -> None:
    load(shop)
    tidegate(shop, "erase", "--subject", "email=ada@example.org", "--request-id", "r-1")
    [(request, subject, origin, touched)] = query(
        shop, "SELECT request_id, subject, origin, touched FROM tidegate.erasures"
    )
    assert (request, origin, len(subject)) == ("r-1", "command", 64)
    done = json.loads(touched)
    assert done["records"] == 4  # the customer line and three order lines
    assert sorted(done["archives"]) == [
        p for p, _ in archived_texts(shop) if "customers_1" in p or "orders_1" in p
    ]


def test_by_email_and_by_id_are_the_same_subject_and_erasing_twice_changes_nothing(
    shop: Path,
) -> None:
    load(shop)
    first = json.loads(
        tidegate(shop, "erase", "--subject", "email=ada@example.org", "--json").stdout
    )
    after = sorted(every_value(shop))
    second = json.loads(tidegate(shop, "erase", "--subject", "id=067318", "--json").stdout)

    assert first["subject"] == second["subject"]
    assert second["touched"]["records"] == 0
    assert all(t["rows"] == 0 for t in second["touched"]["targets"].values())
    unchanged = [v for v in sorted(every_value(shop)) if not v[0].startswith("tidegate.eras")]
    assert unchanged == [v for v in after if not v[0].startswith("tidegate.eras")]


def test_a_redelivered_archived_file_does_not_bring_the_person_back(shop: Path) -> None:
    load(shop)
    tidegate(shop, "erase", "--subject", "customer_id=067318")
    write(shop / "landing", {"customers_1.csv": CUSTOMERS_CSV})  # the original, again

    [again] = run(load_project(shop)).files

    assert again.status == "duplicate"
    assert query(shop, "SELECT count(*) FROM core.customers WHERE id = '067318'") == [(0,)]
    assert found(NEEDLES, archived_texts(shop)) == []
    assert found(NEEDLES, every_value(shop)) == []


def test_a_later_file_about_an_erased_person_is_erased_on_load(shop: Path) -> None:
    load(shop)
    tidegate(shop, "erase", "--subject", "customer_id=067318")
    later = [{"order_id": "o9", "customer_id": "067318", "total": "3.00", "items": []}]
    write(shop / "landing", {"orders_2.jsonl": jsonl(later)})

    [file] = run(load_project(shop)).files

    # the erased customer still counts as existing, so the fact loads, anonymised
    assert (file.status, file.rows_loaded) == ("loaded", 1)
    assert query(shop, "SELECT customer_id, total FROM core.orders WHERE order_id = 'o9'") == [
        (None, 3)
    ]
    assert found(NEEDLES, every_value(shop)) == []
    assert found(NEEDLES, archived_texts(shop)) == []
    [(origin,)] = query(
        shop, "SELECT origin FROM tidegate.erasures WHERE request_id LIKE 'reload:%'"
    )
    assert origin == file.file_id


def test_erasure_request_files_in_every_shape_are_applied(shop: Path) -> None:
    load(shop)
    request = {"customer-id": "067318", "email": "ada@example.org"}
    other = {"customer-id": "000002", "email": "alan@example.org"}
    write(
        shop / "landing",
        {
            "erasure_1.json": json.dumps(request),  # a single object
            "erasure_2.jsonl": jsonl([request, other, request]),  # duplicates
        },
    )

    result = run(load_project(shop))

    assert {f.name: (f.status, f.rows_loaded) for f in result.files} == {
        "erasure_1.json": ("loaded", 1),
        "erasure_2.jsonl": ("loaded", 3),
    }
    assert query(shop, "SELECT count(*) FROM core.customers WHERE id <> '000003'") == [(0,)]
    needles = [*NEEDLES, "000002", "alan@example.org", "Alan Turing"]
    assert found(needles, every_value(shop)) == []
    assert found(needles, archived_texts(shop)) == []
    assert query(shop, "SELECT count(*) FROM tidegate.erasures") == [(4,)]


def test_a_request_naming_only_the_key_erases_its_own_records_too(shop: Path) -> None:
    # The request's customer-id is hashed (its pii policy) while customers keep the id
    # plain: its own record must still be known as the person's, in raw and the archive.
    load(shop)
    write(shop / "landing", {"erasure_1.jsonl": jsonl([{"customer-id": "067318", "email": None}])})

    result = run(load_project(shop))

    assert [(f.name, f.status) for f in result.files] == [("erasure_1.jsonl", "loaded")]
    assert query(shop, "SELECT count(*) FROM core.customers WHERE id = '067318'") == [(0,)]
    assert found(["067318", *NEEDLES], every_value(shop)) == []
    assert found(["067318", *NEEDLES], archived_texts(shop)) == []


def test_nothing_personal_reaches_the_quarantine_listing(shop: Path) -> None:
    load(shop)
    listing = tidegate(shop, "quarantine", "--json")
    assert listing.returncode == 0
    shown = json.loads(listing.stdout)
    grace = next(r for r in shown["rows"] if r["target"] == "customers")
    # the reason shows the value as the column stores it, as the record does: its hash
    assert grace["reasons"][0]["value"] == grace["record"]["Email"]
    assert grace["record"]["Email"] == Keys.derive(SECRET).column_hash("not-an-email")
    assert "not-an-email" not in listing.stdout
    assert "Grace Hopper" not in listing.stdout


def test_unknown_identifiers_fail_without_echoing_the_value(shop: Path) -> None:
    load(shop)
    done = tidegate(shop, "erase", "--subject", "phone=+44 20 7946 0001")
    assert done.returncode == 2
    assert "phone" in done.stderr and "7946" not in done.stderr
    malformed = tidegate(shop, "erase", "--subject", "ada@example.org")
    assert malformed.returncode == 2 and "ada@" not in malformed.stderr


def test_orders_are_the_raw_records_anonymised_in_place(shop: Path) -> None:
    load(shop)
    tidegate(shop, "erase", "--subject", "customer_id=067318")
    rows = query(shop, "SELECT order_id, customer_id, total FROM raw.orders ORDER BY order_id")
    assert rows == [
        ("o1", None, "10.50"),
        ("o2", "000002", "5.00"),
        ("o3", None, "7.00"),
        ("o4", None, "2.25"),
    ]
    [(archived,)] = [(t,) for p, t in archived_texts(shop) if "orders_1" in p]
    lines = [json.loads(line) for line in archived.splitlines()]
    assert [line["order_id"] for line in lines] == [o["order_id"] for o in ORDERS_JSONL]
    assert [line["customer_id"] for line in lines] == [None, "000002", None, None]


def test_with_raw_pii_keep_the_raw_records_read_as_the_file_is_read_are_erased_too(
    shop: Path,
) -> None:
    # raw_pii: keep: the raw layer keeps a CSV's records as read, so they are written to it
    # as the file is read; erasure and a later file about the erased person reach them
    write(
        shop, {"tidegate.yml": FILES["tidegate.yml"].replace("raw_pii: protect", "raw_pii: keep")}
    )
    load(shop)
    assert query(shop, 'SELECT "Email" FROM raw.customers WHERE "ID" = \'067318\'') == [
        (ADA["email"],)
    ]
    assert tidegate(shop, "erase", "--subject", "customer_id=067318").returncode == 0
    again = CUSTOMERS_CSV.splitlines()[1].replace("London", "Marylebone")
    write(shop / "landing", {"customers_2.csv": f"ID,Name,Email,Phone,Born,City\n{again}\n"})

    [file] = run(load_project(shop)).files

    assert (file.status, file.rows_read) == ("loaded", 1)
    assert found(NEEDLES, every_value(shop)) == []
    assert found(NEEDLES, archived_texts(shop)) == []
    rows = query(shop, 'SELECT "ID", "Email", _row FROM raw.customers ORDER BY _file_id, _row')
    assert [r for r in rows if r[0] == "000002"] == [("000002", "alan@example.org", 2)]
    assert query(shop, "SELECT id FROM core.customers ORDER BY id") == [("000002",)]
