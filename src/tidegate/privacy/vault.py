"""The token vault: ``<meta>.vault`` maps each token to its value, encrypted.

A token is deterministic (a keyed hash of the value), so equal values get equal tokens
and joins work; the value comes back only through the vault, with the vault key:
AES-256-GCM, a fresh nonce per entry, the token as associated data (an entry cannot be
moved to another token). The key is derived from ``privacy.vault_key`` with scrypt.

The ``cryptography`` package is needed only by projects that tokenize
(``pip install 'tidegate[privacy]'``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from tidegate.clock import utcnow
from tidegate.errors import ConfigError, TidegateError
from tidegate.sql import col, data_type, lit, table
from tidegate.warehouse.base import Warehouse
from tidegate.warehouse.batch import count_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VAULT = "vault"
STAGE = "_tg_vault_stage"
NONCE = 12
CHUNK = 500
COLUMNS = [
    ("token", data_type("varchar")),
    ("ciphertext", data_type("varchar")),
    ("created_at", data_type("timestamp")),
]


class VaultError(TidegateError):
    """A token cannot be revealed: no key, the wrong key, or no such token."""


@functools.cache
def cipher(vault_key: str | None) -> AESGCM:
    """The vault's cipher for ``privacy.vault_key``; ConfigError when it is not set."""
    if not vault_key:
        raise ConfigError(
            "tidegate.yml",
            "privacy.vault_key is not set: tokens are encrypted with it and revealed with it;"
            " set it from the environment: privacy: {vault_key: ${TIDEGATE_VAULT_KEY}}",
        )
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "tidegate.yml",
            "pii: tokenize needs the 'cryptography' package: pip install 'tidegate[privacy]'",
        ) from exc
    key = hashlib.scrypt(
        vault_key.encode(), salt=b"tidegate token vault", n=2**14, r=8, p=1, dklen=32
    )
    return AESGCM(key)


def encrypt(aes: AESGCM, token: str, value: str) -> str:
    nonce = os.urandom(NONCE)
    sealed = aes.encrypt(nonce, value.encode("utf-8"), token.encode())
    return base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(aes: AESGCM, token: str, ciphertext: str) -> str:
    from cryptography.exceptions import InvalidTag

    raw = base64.b64decode(ciphertext)
    try:
        return aes.decrypt(raw[:NONCE], raw[NONCE:], token.encode()).decode("utf-8")
    except InvalidTag:
        raise VaultError(f"the vault key does not open token {token}") from None


def ensure(wh: Warehouse) -> None:
    wh.ensure_table(VAULT, wh.schemas.meta, COLUMNS, primary_key=["token"])


def store(wh: Warehouse, aes: AESGCM, pairs: Iterable[tuple[str, str]]) -> int:
    """Add the (token, value) pairs whose token the vault lacks; returns how many."""
    entries = dict(pairs)
    if not entries:
        return 0
    ensure(wh)
    now = utcnow()
    tokens = list(entries)
    sealed = [encrypt(aes, token, entries[token]) for token in tokens]
    batch = pa.table(
        {
            "token": pa.array(tokens, pa.string()),
            "ciphertext": pa.array(sealed, pa.string()),
            "created_at": pa.array([now] * len(tokens), pa.timestamp("us")),
        }
    )
    staged = wh.stage(STAGE, COLUMNS, batch.to_reader())
    vault = table(VAULT, wh.schemas.meta)
    known = exp.select(lit(1)).from_(vault.copy().as_("_tg_v"))
    known = known.where(col("token", "_tg_v").eq(col("token", "_tg_s")))
    fresh = exp.select(*[col(name, "_tg_s") for name, _ in COLUMNS]).from_(staged.as_("_tg_s"))
    fresh = fresh.where(exp.not_(exp.Exists(this=known)))
    before = wh.count(VAULT, wh.schemas.meta)
    wh.execute(exp.insert(fresh, vault, columns=[exp.to_identifier(n) for n, _ in COLUMNS]))
    wh.drop_temp(STAGE)
    return wh.count(VAULT, wh.schemas.meta) - before


def reveal(wh: Warehouse, aes: AESGCM, tokens: Sequence[str]) -> dict[str, str]:
    """Token -> value; VaultError for a token the vault does not hold."""
    found: dict[str, str] = {}
    if wh.columns_of(VAULT, wh.schemas.meta) is None:
        raise VaultError("the vault is empty: no value was tokenized in this warehouse")
    for start in range(0, len(tokens), CHUNK):
        chunk = tokens[start : start + CHUNK]
        query = (
            exp.select(col("token"), col("ciphertext"))
            .from_(table(VAULT, wh.schemas.meta))
            .where(col("token").isin(*[lit(t) for t in chunk]))
        )
        for token, ciphertext in wh.execute(query):
            found[str(token)] = decrypt(aes, str(token), str(ciphertext))
    missing = [t for t in tokens if t not in found]
    if missing:
        raise VaultError(f"no vault entry for {missing[:5]} (erased, or not a token)")
    return found


def forget(wh: Warehouse, tokens: Sequence[str]) -> int:
    """Remove vault entries; returns how many were there."""
    if not tokens or wh.columns_of(VAULT, wh.schemas.meta) is None:
        return 0
    removed = 0
    for start in range(0, len(tokens), CHUNK):
        where = col("token").isin(*[lit(t) for t in tokens[start : start + CHUNK]])
        removed += count_of(wh, table(VAULT, wh.schemas.meta), where)
        wh.execute(exp.delete(table(VAULT, wh.schemas.meta), where=where))
    return removed
