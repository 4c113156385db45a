"""Keyed hashes: HMAC-SHA-256 under keys derived from the project secret.

One secret gives three independent keys, so a value hashed in a column, a token and a
subject in the erasure log never share a digest:

    column    ``pii: hash`` values, and the ``hmac:`` prefix shown instead of a personal
              value in quarantine reasons
    token     the deterministic token of a ``pii: tokenize`` value
    subject   who was erased (the log and the match set), and which file records carry whom

The same digest is computed in Python (``Keys.column_hash``) and in the compute engine
(``hmac_sql``), which has SHA-256 but no HMAC: HMAC is built from it, set-wise, as
``sha256((K ^ opad) || unhex(sha256((K ^ ipad) || value)))``.

>>> keys = Keys.derive("a-long-project-secret")
>>> len(keys.column_hash("067318"))
64
>>> keys.column_hash("067318") == Keys.derive("another-long-secret").column_hash("067318")
False
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from tidegate.sql import COMPUTE_DIALECT, lit

BLOCK = 64  # SHA-256's block size in bytes
TOKEN_PREFIX = "tok_"
TOKEN_HEX = 24  # 96 bits: collisions are out of reach for any table
SEPARATOR = "\x1f"  # joins the parts of a subject identity; never in an identifier name
REDACTED_HEX = 12


def _derive(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"tidegate:{purpose}".encode(), hashlib.sha256).digest()


def _hex(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keys:
    """The keys of one project; never printed, never stored."""

    column: bytes
    token: bytes
    subject: bytes

    @classmethod
    def derive(cls, secret: str) -> Keys:
        raw = secret.encode("utf-8")
        return cls(_derive(raw, "column"), _derive(raw, "token"), _derive(raw, "subject"))

    def __repr__(self) -> str:
        return "Keys(<withheld>)"

    def column_hash(self, value: str) -> str:
        return _hex(self.column, value)

    def token_of(self, value: str) -> str:
        return TOKEN_PREFIX + _hex(self.token, value)[:TOKEN_HEX]

    def subject_hash(self, subject: str, key_value: str) -> str:
        """Who a subject is: the subject target and its stored key value."""
        return _hex(self.subject, subject_identity(subject, key_value))

    def identifier_hash(self, subject: str, column: str, value: str) -> str:
        """Another identifier of a subject (an email), as stored in its column."""
        return _hex(self.subject, identifier_identity(subject, column, value))

    def redacted(self, value: str) -> str:
        return "hmac:" + self.column_hash(value)[:REDACTED_HEX]


def subject_identity(subject: str, key_value: str) -> str:
    return SEPARATOR.join(("subject", subject, key_value))


def identifier_identity(subject: str, column: str, value: str) -> str:
    return SEPARATOR.join(("identifier", subject, column, value))


# --------------------------------------------------------------------------- SQL


def _template(sql: str, **values: exp.Expr) -> exp.Expr:
    return exp.replace_placeholders(sqlglot.parse_one(sql, read=COMPUTE_DIALECT), **values)


def _pads(key: bytes) -> tuple[str, str]:
    block = (hashlib.sha256(key).digest() if len(key) > BLOCK else key).ljust(BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in block)
    outer = bytes(b ^ 0x5C for b in block)
    return inner.hex(), outer.hex()


def hmac_sql(key: bytes, value: exp.Expr) -> exp.Expr:
    """HMAC-SHA-256 of ``value`` as text (UTF-8), lower-case hex; NULL stays NULL.

    >>> hmac_sql(b"k", exp.column("v")).sql("duckdb")[:22]
    'SHA256(UNHEX(\\'5a3737373'
    """
    inner, outer = _pads(key)
    message = exp.Encode(this=exp.cast(value, "varchar"), charset=lit("utf-8"))
    first = _sha256(exp.DPipe(this=exp.Unhex(this=lit(inner)), expression=message, safe=True))
    return _sha256(
        exp.DPipe(this=exp.Unhex(this=lit(outer)), expression=exp.Unhex(this=first), safe=True)
    )


def _sha256(value: exp.Expr) -> exp.Expr:
    return exp.SHA2(this=value, length=lit(256))


def token_sql(keys: Keys, value: exp.Expr) -> exp.Expr:
    digest = hmac_sql(keys.token, value)
    return _template(
        "CASE WHEN :v IS NULL THEN NULL ELSE :prefix || left(:d, :n) END",
        v=value.copy(),
        prefix=lit(TOKEN_PREFIX),
        d=digest,
        n=lit(TOKEN_HEX),
    )


def identity_sql(parts: list[exp.Expr]) -> exp.Expr:
    """The text ``subject_identity`` / ``identifier_identity`` build, in SQL."""
    return exp.func("concat_ws", lit(SEPARATOR), *parts)


def subject_hash_sql(keys: Keys, subject: str, stored: exp.Expr) -> exp.Expr:
    identity = identity_sql([lit("subject"), lit(subject), exp.cast(stored, "varchar")])
    return _null_when_null(stored, hmac_sql(keys.subject, identity))


def identifier_hash_sql(keys: Keys, subject: str, column: str, stored: exp.Expr) -> exp.Expr:
    parts = [lit("identifier"), lit(subject), lit(column), exp.cast(stored, "varchar")]
    return _null_when_null(stored, hmac_sql(keys.subject, identity_sql(parts)))


def _null_when_null(value: exp.Expr, then: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=exp.not_(value.copy().is_(exp.null())), true=then)])


def redacted_sql(keys: Keys, value: exp.Expr) -> exp.Expr:
    digest = hmac_sql(keys.column, value)
    return _template("'hmac:' || left(:d, :n)", d=digest, n=lit(REDACTED_HEX))
