"""Column policies: what a pii column, the raw layer and the quarantine store."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tidegate.config import load_project
from tidegate.config.models import MaskSpec
from tidegate.errors import ConfigError
from tidegate.pipeline import run
from tidegate.privacy.keys import Keys, hmac_sql
from tidegate.privacy.policies import mask_sql, mask_value

from .conftest import ADA, FILES, SECRET, query, tidegate, write


def load(root: Path) -> None:
    assert all(f.status == "loaded" for f in run(load_project(root)).files)


def customers(root: Path) -> dict[str, tuple[object, ...]]:
    rows = query(root, "SELECT id, name, email, phone, born, city FROM core.customers")
    return {str(r[0]): r for r in rows}


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.binary(min_size=1, max_size=100))
def test_hmac_in_sql_is_hmac_sha256(value: str, key: bytes) -> None:
    expected = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    sql = exp.select(hmac_sql(key, exp.Literal.string(value))).sql("duckdb")
    assert duckdb.execute(sql).fetchall() == [(expected,)]


@pytest.mark.parametrize(
    ("spec", "value", "masked"),
    [
        (MaskSpec(keep_last=4), "+44 20 7946 0001", "************0001"),
        (MaskSpec(keep_domain=True), "ada@example.org", "***@example.org"),
        (MaskSpec(keep_first=2), "E7 1NS", "E7****"),
        (MaskSpec(keep_last=4), "123", "***"),  # too short to keep anything
        (MaskSpec(), "Ada", "***"),
    ],
)
def test_mask_keeps_only_what_it_is_told(spec: MaskSpec, value: str, masked: str) -> None:
    sql = exp.select(mask_sql(spec, exp.Literal.string(value))).sql("duckdb")
    assert duckdb.execute(sql).fetchall() == [(masked,)] == [(mask_value(spec, value),)]


def test_policies_apply_to_targets_raw_and_quarantine(shop: Path) -> None:
    load(shop)
    keys = Keys.derive(SECRET)
    ada = customers(shop)[ADA["id"]]
    assert ada[2] == keys.column_hash(ADA["email"])
    assert ada[3] == "************0001"
    assert str(ada[1]).startswith("tok_") and ada[1] == keys.token_of(ADA["name"])
    assert ada[4] is None  # born: pii drop
    assert ada[5] == "London"  # not personal on its own: kept
    [raw] = query(
        shop, 'SELECT "Email", "Phone", "Born" FROM raw.customers WHERE "ID" = \'067318\''
    )
    assert raw == (keys.column_hash(ADA["email"]), "************0001", None)
    [(record,)] = query(shop, "SELECT record FROM tidegate.quarantine WHERE target = 'customers'")
    assert json.loads(record)["Email"] == keys.column_hash("not-an-email")


def test_raw_pii_keep_leaves_the_raw_layer_as_read(shop: Path) -> None:
    write(
        shop, {"tidegate.yml": FILES["tidegate.yml"].replace("raw_pii: protect", "raw_pii: keep")}
    )
    load(shop)
    [raw] = query(shop, 'SELECT "Email" FROM raw.customers WHERE "ID" = \'067318\'')
    assert raw == (ADA["email"],)
    assert customers(shop)[ADA["id"]][2] == Keys.derive(SECRET).column_hash(ADA["email"])


def test_a_hash_is_stable_across_runs_and_differs_with_another_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import CUSTOMERS_CSV

    def project(name: str) -> Path:
        root = write(tmp_path / name, FILES)
        write(root / "landing", {"customers_1.csv": CUSTOMERS_CSV})
        return root

    first, again = project("first"), project("again")
    load(first)
    load(again)
    monkeypatch.setenv("TIDEGATE_SECRET", "a-different-secret-0123456789")
    other = project("other")
    load(other)
    assert customers(first) == customers(again)
    assert customers(first)[ADA["id"]][2] != customers(other)[ADA["id"]][2]
    assert customers(first)[ADA["id"]][1] != customers(other)[ADA["id"]][1]


def test_tokens_reveal_with_the_key_and_not_without(shop: Path) -> None:
    load(shop)
    token = str(customers(shop)[ADA["id"]][1])

    shown = tidegate(shop, "reveal", token, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {token: ADA["name"]}

    without = tidegate(shop, "reveal", token, env={"TIDEGATE_VAULT_KEY": ""})
    assert without.returncode == 2 and "vault_key" in without.stderr
    assert ADA["name"] not in without.stdout + without.stderr

    wrong = tidegate(shop, "reveal", token, env={"TIDEGATE_VAULT_KEY": "not-the-right-key-0123"})
    assert wrong.returncode == 1 and "does not open" in wrong.stderr
    assert ADA["name"] not in wrong.stdout + wrong.stderr


def test_an_erased_token_cannot_be_revealed(shop: Path) -> None:
    load(shop)
    token = str(customers(shop)[ADA["id"]][1])
    tidegate(shop, "erase", "--subject", "customer_id=067318")
    gone = tidegate(shop, "reveal", token)
    assert gone.returncode == 1 and "no vault entry" in gone.stderr


def test_the_vault_holds_ciphertext_only(shop: Path) -> None:
    load(shop)
    rows = query(shop, "SELECT token, ciphertext FROM tidegate.vault")
    assert len(rows) == 3
    assert not [r for r in rows if "Ada" in r[1] or "Alan" in r[1]]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("subject: {column: nope}", "subject.column: 'nope' is not a column"),
        ("subject: {column: id, identifiers: [phone]}", "cannot be pii: mask"),
    ],
)
def test_subject_mistakes_are_configuration_errors(shop: Path, target: str, message: str) -> None:
    text = FILES["targets/customers.yml"].replace(
        "subject: {column: id, identifiers: [email]}", target
    )
    write(shop, {"targets/customers.yml": text})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_project(shop)


def test_a_link_stored_unlike_its_subject_key_is_refused(shop: Path) -> None:
    text = FILES["targets/orders.yml"].replace(
        "customer_id: {type: varchar, required: true}",
        "customer_id: {type: varchar, required: true, pii: hash}",
    )
    write(shop, {"targets/orders.yml": text})
    with pytest.raises(ConfigError, match=r"must be stored like customers\.id"):
        load_project(shop)


def test_hash_needs_a_secret_and_text(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        shop,
        {
            "tidegate.yml": FILES["tidegate.yml"].replace(
                "${TIDEGATE_SECRET}", "${NO_SUCH_SECRET:-}"
            )
        },
    )
    with pytest.raises(ConfigError, match=r"privacy\.secret is not set"):
        load_project(shop)
    write(shop, {"tidegate.yml": FILES["tidegate.yml"]})
    text = FILES["targets/customers.yml"].replace(
        "born:    {type: date, pii: drop}", "born: {type: date, pii: hash}"
    )
    write(shop, {"targets/customers.yml": text})
    with pytest.raises(ConfigError, match="pii: hash stores text"):
        load_project(shop)
