"""Quarantine keeps personal values as the target the row was headed for would: a record
and its reasons show the same protected value; the originals are sealed with the vault key
so that replay re-evaluates the real values and protects them once; erasure takes the
sealed originals with the person. On every warehouse that runs here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.privacy.commands import erase_subject
from tidegate.privacy.keys import Keys
from tidegate.replay import Replayed, replay

from .conftest import CUSTOMERS, FILES, SECRET, rows_of, shop_on, tidegate, write

GRACE = {"id": "000003", "name": "Grace Hopper", "email": "not-an-email"}
STRICT = "email:   {type: varchar, pii: hash, pattern: '^[^@]+@[^@]+$'}"
RELAXED = "email:   {type: varchar, pii: hash, pattern: '^.+$'}"


def grace_in_quarantine(root: Path) -> dict[str, object]:
    [row] = [r for r in rows_of(root, "meta", "quarantine") if r["target"] == "customers"]
    return row


def customers_replayed(root: Path) -> Replayed:
    return next(r for r in replay(load_project(root)) if r.source == "customers")


@pytest.mark.parametrize(
    ("policy", "shown"),
    [
        ("pii: hash, ", Keys.derive(SECRET).column_hash(GRACE["email"])),
        ("", GRACE["email"]),  # an identifier without a policy: stored, and shown, as given
    ],
)
def test_a_record_and_its_reasons_show_the_same_value(shop: Path, policy: str, shown: str) -> None:
    write(shop, {"targets/customers.yml": CUSTOMERS.replace("pii: hash, ", policy)})
    assert {f.status for f in run(load_project(shop)).files} == {"loaded"}

    listing = tidegate(shop, "quarantine", "--json")

    [grace] = [r for r in json.loads(listing.stdout)["rows"] if r["target"] == "customers"]
    [reason] = grace["reasons"]
    assert (reason["column"], reason["value"], grace["record"]["Email"]) == ("email", shown, shown)
    assert grace["record"]["Name"] == Keys.derive(SECRET).token_of(GRACE["name"])
    [(stored,)] = [(r["email"],) for r in rows_of(shop, "core", "customers") if r["id"] == "000002"]
    alan = "alan@example.org"
    assert stored == (Keys.derive(SECRET).column_hash(alan) if policy else alan)


@pytest.mark.parametrize("raw_pii", ["protect", "keep"])
def test_replay_restores_the_sealed_originals_and_protects_them_once(
    tmp_path: Path, warehouse: Callable[[], str], raw_pii: str
) -> None:
    shop = shop_on(tmp_path / "shop", warehouse())
    config = (shop / "tidegate.yml").read_text().replace("raw_pii: protect", f"raw_pii: {raw_pii}")
    write(shop, {"tidegate.yml": config})
    run(load_project(shop))
    record = json.loads(str(grace_in_quarantine(shop)["record"]))
    keys = Keys.derive(SECRET)
    assert record["Email"] == keys.column_hash(GRACE["email"])  # whatever raw_pii says
    sealed = rows_of(shop, "meta", "quarantine_originals")
    assert {r["field"] for r in sealed} == {"Name", "Email", "Phone", "Born"}
    assert not [r for r in sealed if GRACE["name"] in str(r) or GRACE["email"] in str(r)]
    write(shop, {"targets/customers.yml": CUSTOMERS.replace(STRICT, RELAXED)})

    done = customers_replayed(shop)

    assert (done.loaded, done.still_bad) == (1, 0)
    [grace] = [r for r in rows_of(shop, "core", "customers") if r["id"] == GRACE["id"]]
    assert grace["email"] == keys.column_hash(GRACE["email"])  # hashed once, not twice
    assert grace["name"] == keys.token_of(GRACE["name"])
    assert (grace["phone"], grace["born"]) == ("***********0003", None)
    assert grace_in_quarantine(shop)["status"] == "replayed"
    assert rows_of(shop, "meta", "quarantine_originals") == []


def test_a_row_that_still_fails_keeps_its_sealed_originals(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    shop = shop_on(tmp_path / "shop", warehouse())
    run(load_project(shop))
    before = {r["field"] for r in rows_of(shop, "meta", "quarantine_originals")}

    first = customers_replayed(shop)  # nothing changed: it fails again
    write(shop, {"targets/customers.yml": CUSTOMERS.replace(STRICT, RELAXED)})
    second = customers_replayed(shop)

    assert (first.still_bad, second.loaded) == (1, 1)
    assert before == {"Name", "Email", "Phone", "Born"}
    [grace] = [r for r in rows_of(shop, "core", "customers") if r["id"] == GRACE["id"]]
    assert grace["email"] == Keys.derive(SECRET).column_hash(GRACE["email"])


def test_erasure_takes_the_sealed_originals(tmp_path: Path, warehouse: Callable[[], str]) -> None:
    shop = shop_on(tmp_path / "shop", warehouse())
    run(load_project(shop))
    assert rows_of(shop, "meta", "quarantine_originals")

    report = erase_subject(load_project(shop), [f"id={GRACE['id']}"], "r-1")

    assert report.touched["quarantine"] == 1
    assert rows_of(shop, "meta", "quarantine_originals") == []
    assert grace_in_quarantine(shop)["status"] == "erased"


def test_without_a_vault_key_a_protected_row_is_held_back_not_protected_twice(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    shop = shop_on(tmp_path / "shop", warehouse())
    no_tokens = CUSTOMERS.replace(
        "name:    {type: varchar, pii: tokenize}", "name: {type: varchar}"
    )
    config = (
        (shop / "tidegate.yml").read_text().replace("  vault_key: ${TIDEGATE_VAULT_KEY:-}\n", "")
    )
    write(shop, {"targets/customers.yml": no_tokens, "tidegate.yml": config})
    run(load_project(shop))
    before = grace_in_quarantine(shop)
    noted = rows_of(shop, "meta", "quarantine_originals")
    assert {r["field"] for r in noted} == {"Email", "Phone", "Born"}
    assert {r["ciphertext"] for r in noted} == {None}  # noted, nothing kept
    write(shop, {"targets/customers.yml": no_tokens.replace(STRICT, RELAXED)})

    done = customers_replayed(shop)

    assert (done.loaded, done.still_bad) == (0, 1)
    assert sorted(r["id"] for r in rows_of(shop, "core", "customers")) == ["000002", "067318"]
    after = grace_in_quarantine(shop)
    assert (after["status"], after["record"]) == ("open", before["record"])
    reasons = json.loads(str(after["reasons"]))
    assert reasons[:-1] == json.loads(str(before["reasons"]))  # as they were, and why
    assert reasons[-1]["rule"] == "sealed" and "vault_key" in reasons[-1]["message"]


def test_erasure_forgets_a_token_only_the_quarantine_held(shop: Path) -> None:
    config = FILES["tidegate.yml"].replace("raw_pii: protect", "raw_pii: keep")
    write(shop, {"tidegate.yml": config, "landing/orders_1.jsonl": ""})
    run(load_project(shop))
    token = Keys.derive(SECRET).token_of(GRACE["name"])
    assert json.loads(str(grace_in_quarantine(shop)["record"]))["Name"] == token
    assert [r["token"] for r in rows_of(shop, "meta", "vault") if r["token"] == token]

    report = erase_subject(load_project(shop), [f"id={GRACE['id']}"], "r-1")

    assert report.touched["vault"] == 1
    assert not [r for r in rows_of(shop, "meta", "vault") if r["token"] == token]
