"""``tidegate erase`` and ``tidegate reveal``: what the commands do, without the printing.

Neither ever puts an identifier it was given into a message: errors name the identifier's
*name* (``email``), and the erasure report carries the keyed hash of the subject.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tidegate.config.models import Project
from tidegate.errors import ConfigError
from tidegate.privacy import archives, erase, storage, vault
from tidegate.privacy.context import Privacy
from tidegate.warehouse import connect, ledger


@dataclass
class ErasureReport:
    request_id: str
    subject: str | None
    touched: dict[str, Any]
    not_rewritten: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # identifier names that found nobody
    warnings: list[str] = field(default_factory=list)  # targets the erasure cannot reach
    storage: str = "rewritten"  # rewritten | deferred | not rewritten: the warehouse's files


def parse_identifiers(pairs: list[str]) -> dict[str, str]:
    """``["customer_id=067318", "email=..."]`` -> a dict; the values are never echoed."""
    found: dict[str, str] = {}
    for position, pair in enumerate(pairs, start=1):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value:
            raise ConfigError(
                "--subject", f"subject {position} is not NAME=VALUE (for example email=...)"
            )
        found[name.strip()] = value
    return found


def erase_subject(
    project: Project, pairs: list[str], request_id: str | None, rewrite: bool = True
) -> ErasureReport:
    """Erase one subject everywhere, then rewrite the archived files that held it, the
    rejected files that carry it and the warehouse's storage (unless ``rewrite`` is
    False: then the next run, or the next erase that rewrites, does it for all)."""
    identifiers = parse_identifiers(pairs)
    privacy = Privacy.of(project)
    request = erase.Request(request_id or uuid.uuid4().hex, identifiers)
    with connect(project) as wh:
        ledger.ensure(wh)
        with wh.transaction():
            result = erase.erase_request(wh, privacy, request)
        failed = archives.rewrite(wh, privacy, result.files)
        forgotten = storage.forget(wh, privacy) if rewrite else None
    touched = dict(result.touched.__dict__)
    unmatched = list(result.touched.unmatched)
    report = ErasureReport(
        result.request_id, result.subject, touched, failed, unmatched, result.warnings
    )
    if forgotten is None:
        report.storage = "deferred"
    else:
        report.not_rewritten += forgotten.not_rewritten
        report.warnings += forgotten.warnings
        report.storage = "rewritten" if forgotten.storage else "not rewritten"
    return report


def reveal_tokens(project: Project, tokens: list[str]) -> dict[str, str]:
    """Token -> value, for a user holding the vault key."""
    aes = vault.cipher(project.config.privacy.vault_key)
    with connect(project) as wh:
        return vault.reveal(wh, aes, tokens)
