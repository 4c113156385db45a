"""Column policies as compute-engine expressions: what a ``pii`` column stores.

    hash      HMAC-SHA-256 under the project's column key, hex: stable, so joins still work
    mask      every character but the kept ones replaced (``mask: {keep_last: 4}``)
    tokenize  ``tok_<hex>``, deterministic; the value itself goes to the encrypted vault
    drop      NULL: the value is checked by the column's rules, then never stored

A subject's identifiers are matched by their *stored form*: the value itself, its hash or
its token (``stored_value`` computes it in Python for ``tidegate erase``).
"""

from __future__ import annotations

from sqlglot import exp

from tidegate.config.models import ColumnSpec, MaskSpec
from tidegate.privacy.keys import Keys, _template, hmac_sql, redacted_sql, token_sql
from tidegate.sql import data_type, lit

# From the policy that keeps least to the one that keeps most: a file column feeding
# several personal columns gets the first of their policies.
STRICTNESS = ("drop", "hash", "tokenize", "mask")
WITHHELD = "<withheld>"


def mask_sql(spec: MaskSpec | None, value: exp.Expr) -> exp.Expr:
    """``value`` masked; text shorter than what is kept is masked whole."""
    spec = spec or MaskSpec()
    text = exp.cast(value, "varchar")
    char = lit(spec.char)
    if spec.keep_domain:
        return _template(
            "CASE WHEN strpos(:t, '@') > 0 THEN repeat(:c, strpos(:t, '@') - 1)"
            " || substr(:t, strpos(:t, '@')) ELSE repeat(:c, length(:t)) END",
            t=text,
            c=char,
        )
    first, last = lit(spec.keep_first), lit(spec.keep_last)
    kept = lit(spec.keep_first + spec.keep_last)
    return _template(
        "CASE WHEN length(:t) <= :kept THEN repeat(:c, length(:t))"
        " ELSE left(:t, :first) || repeat(:c, length(:t) - :kept) || right(:t, :last) END",
        t=text,
        c=char,
        kept=kept,
        first=first,
        last=last,
    )


def mask_value(spec: MaskSpec | None, value: str) -> str:
    """The same masking in Python (for messages)."""
    spec = spec or MaskSpec()
    if spec.keep_domain:
        at = value.find("@")
        return spec.char * at + value[at:] if at >= 0 else spec.char * len(value)
    kept = spec.keep_first + spec.keep_last
    if len(value) <= kept:
        return spec.char * len(value)
    tail = value[len(value) - spec.keep_last :] if spec.keep_last else ""
    return value[: spec.keep_first] + spec.char * (len(value) - kept) + tail


def policy_sql(spec: ColumnSpec, value: exp.Expr, keys: Keys | None) -> exp.Expr:
    """What the column stores for ``value`` under its policy (``value`` when none)."""
    if spec.pii is None:
        return value
    if spec.pii == "drop":
        return exp.cast(exp.null(), data_type(spec.type))
    if spec.pii == "mask":
        return mask_sql(spec.mask, value)
    assert keys is not None, "the loader requires privacy.secret for hash and tokenize"
    if spec.pii == "hash":
        return hmac_sql(keys.column, value)
    return token_sql(keys, value)


def stored_value(spec: ColumnSpec | None, value: str, keys: Keys) -> str:
    """What an identifier column stores for ``value`` (identifiers are never masked)."""
    if spec is None or spec.pii is None:
        return value
    if spec.pii == "hash":
        return keys.column_hash(value)
    if spec.pii == "tokenize":
        return keys.token_of(value)
    raise ValueError(f"a column with pii: {spec.pii} cannot identify a subject")


def strictest(specs: list[ColumnSpec]) -> ColumnSpec:
    """The spec whose policy keeps least of a value."""
    return min(specs, key=lambda s: STRICTNESS.index(s.pii or "mask"))


def redaction_sql(spec: ColumnSpec | None, value: exp.Expr, keys: Keys | None) -> exp.Expr:
    """What a message shows instead of a personal value: its mask, or a short keyed hash."""
    if spec is not None and spec.pii == "mask":
        return mask_sql(spec.mask, value)
    if spec is not None and spec.pii == "drop":
        return exp.cast(exp.null(), "varchar")
    if keys is None:
        return exp.Case(ifs=[exp.If(this=exp.not_(value.is_(exp.null())), true=lit(WITHHELD))])
    return redacted_sql(keys, value)
