"""One person, whichever identifier names them: erasure by email and by customer id reach
the same rows in every target, raw table, quarantine row and archive; targets that hold the
person's values without declaring a subject are named, not emptied; an identifier that
matches nobody is reported. On every warehouse that runs here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.privacy.commands import ErasureReport, erase_subject

from .conftest import ADA, UNDECLARED, archived_texts, rows_of, shop_on, tidegate

# What differs between two loads of the same files: times, request ids, fresh nonces.
VOLATILE = frozenset(
    {"_loaded_at", "quarantined_at", "replayed_at", "request_id", "created_at", "ciphertext"}
)
TABLES = [
    ("core", "customers"),
    ("core", "orders"),
    ("core", "order_lines"),
    ("core", "tickets"),
    ("core", "invoices"),
    ("raw", "customers"),
    ("raw", "orders"),
    ("raw", "tickets"),
    ("meta", "quarantine"),
    ("meta", "erased_records"),
    ("meta", "erased_keys"),
    ("meta", "subject_records"),
    ("meta", "vault"),
]


def loaded(root: Path, warehouse: Callable[[], str]) -> Path:
    shop_on(root, warehouse(), UNDECLARED)
    result = run(load_project(root))
    assert {f.status for f in result.files} == {"loaded"}, result.files
    return root


def state(root: Path) -> dict[str, Any]:
    found: dict[str, Any] = {
        f"{kind}.{name}": rows_of(root, kind, name, VOLATILE) for kind, name in TABLES
    }
    found["archive"] = sorted(archived_texts(root))
    return found


def erased(root: Path, *pairs: str) -> ErasureReport:
    return erase_subject(load_project(root), list(pairs), "r-1")


def quarantined(root: Path, target: str) -> list[dict[str, Any]]:
    return [r for r in rows_of(root, "meta", "quarantine") if r["target"] == target]


def test_by_email_and_by_customer_id_erase_the_same_rows_everywhere(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    by_email = loaded(tmp_path / "by_email", warehouse)
    by_id = loaded(tmp_path / "by_id", warehouse)
    assert state(by_email) == state(by_id)

    one = erased(by_email, f"email={ADA['email']}")
    other = erased(by_id, f"customer_id={ADA['id']}")

    assert state(by_email) == state(by_id)
    assert (one.subject, one.touched, one.warnings) == (
        other.subject,
        other.touched,
        other.warnings,
    )
    assert one.touched["targets"]["customers"] == {"action": "delete", "rows": 1}
    assert one.touched["targets"]["orders"] == {"action": "anonymise", "rows": 1}  # o4: o1, o3 bad
    assert one.touched["quarantine"] == 1  # o3 of order_lines: its customer_id set to null
    assert one.unmatched == other.unmatched == []
    [o3] = quarantined(by_email, "order_lines")
    assert (o3["status"], json.loads(o3["record"])["customer_id"]) == ("open", None)
    assert json.loads(o3["record"])["order_id"] == "o3"


def test_a_target_without_a_subject_is_named_and_its_quarantine_kept(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    shop = loaded(tmp_path / "shop", warehouse)
    tickets_before = quarantined(shop, "tickets")
    invoices_before = quarantined(shop, "invoices")
    assert len(tickets_before) == 2 and len(invoices_before) == 1  # t2, t3; o1 over 10

    report = erased(shop, f"customer_id={ADA['id']}")

    assert quarantined(shop, "tickets") == tickets_before
    assert quarantined(shop, "invoices") == invoices_before
    kept = rows_of(shop, "core", "tickets")
    assert [(r["ticket_id"], r["customer_id"]) for r in kept] == [("t1", ADA["id"])]
    [tickets, invoices] = [w for w in report.warnings if "tickets" in w or "invoices" in w]
    assert "'invoices'" in tickets or "'invoices'" in invoices
    named = " ".join(report.warnings)
    assert "customer_id (named like the key of customers)" in named
    assert "buyer (mapped from orders's 'customer_id' like orders.customer_id)" in named
    assert ADA["id"] not in named
    assert rows_of(shop, "core", "customers") == [
        r for r in rows_of(shop, "core", "customers") if r["id"] != ADA["id"]
    ]


def test_an_identifier_that_matches_nobody_is_reported(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    shop = loaded(tmp_path / "shop", warehouse)

    nobody = erased(shop, "email=nobody@example.org")
    mixed = erased(shop, f"customer_id={ADA['id']}", "email=nobody@example.org")
    again = erased(shop, f"customer_id={ADA['id']}")

    assert nobody.unmatched == ["email"]
    assert all(t["rows"] == 0 for t in nobody.touched["targets"].values())
    assert mixed.unmatched == ["email"]
    assert mixed.touched["targets"]["customers"]["rows"] == 1
    assert again.unmatched == []  # known, and erased already: nothing more to do
    logged = [json.loads(r["touched"])["unmatched"] for r in rows_of(shop, "meta", "erasures")]
    assert sorted(logged) == [[], ["email"], ["email"]]  # names only, in the erasure log


def test_the_command_says_which_subject_matched_nobody_without_its_value(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    shop = loaded(tmp_path / "shop", warehouse)

    text = tidegate(shop, "erase", "--subject", "email=nobody@example.org")
    done = tidegate(shop, "erase", "--subject", "customer_id=999999", "--json")

    assert text.returncode == 0, text.stderr
    assert "matched nobody: --subject email=..." in text.stderr
    assert "nobody@example.org" not in text.stdout + text.stderr
    assert "'tickets' declares no subject" in text.stderr
    report = json.loads(done.stdout)
    assert report["unmatched"] == ["customer_id"]
    assert any("'invoices' declares no subject" in w for w in report["warnings"])
    assert "999999" not in done.stdout + done.stderr
