"""What a notification says: one message per run and channel, never per row.

A message names the project, the run, the files, the counts, the first reasons (rule and
column, never a value) and the commands that show more. It never holds a secret or a
personal value: file errors are shown with every quoted value replaced by ``'…'``, and the
project's secrets (webhook URLs, SMTP passwords, privacy keys) are cut out of everything.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tidegate.config.models import NotifyChannel, Project
from tidegate.notify.stale import Stale
from tidegate.pipeline import FileResult

SHOWN = 10  # files and reasons listed per section; the rest are counted
QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


@dataclass
class Findings:
    """What a run found, before it is cut to what each channel asked for."""

    project: Project
    run_id: str | None
    files: list[FileResult] = field(default_factory=list)
    quarantine_reasons: list[tuple[str, int]] = field(default_factory=list)  # 'target.col: rule'
    stale: list[Stale] = field(default_factory=list)
    error: str | None = None  # the run itself failed (the warehouse was unreachable, ...)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    payload: dict[str, Any]


def secrets_of(project: Project) -> list[str]:
    """Every secret the project's configuration holds, to be cut out of any text sent."""
    config = project.config
    found = [config.privacy.secret, config.privacy.vault_key, config.warehouse.url]
    for channel in config.notify:
        found.append(channel.webhook)
        if channel.webhook:
            parts = urlsplit(channel.webhook)
            found += [parts.query, parts.password]
        if channel.email:
            found.append(urlsplit(channel.email.smtp).password)
            found.append(channel.email.smtp)
    return sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def without_values(text: str, limit: int = 200) -> str:
    """An error's first line with every quoted value hidden: it may be a person's."""
    first = (text.strip().splitlines() or [""])[0]
    hidden = QUOTED.sub("'…'", first)
    return hidden if len(hidden) <= limit else hidden[: limit - 1] + "…"


def channel_label(channel: NotifyChannel) -> str:
    """How reports and logs name a channel: the host only, never a token or password."""
    if channel.webhook:
        parts = urlsplit(channel.webhook)
        return f"webhook {parts.scheme}://{parts.hostname or '?'}/…"
    assert channel.email is not None
    return f"email to {', '.join(channel.email.to)}"


def compose(findings: Findings, events: dict[str, list[str]]) -> Message:
    """The message for one channel: ``events`` maps each event it wants to its lines."""
    project = findings.project
    name = project.root.resolve().name
    headline = ", ".join(f"{len(lines)} {_event_title(kind)}" for kind, lines in events.items())
    subject = f"tidegate {name}: {headline}"
    lines = [subject, _run_line(findings), *_counts(findings.files)]
    for kind, found in events.items():
        lines.append(f"{_event_title(kind)}:")
        lines += [f"  - {line}" for line in found[:SHOWN]]
        if len(found) > SHOWN:
            lines.append(f"  … and {len(found) - SHOWN} more")
    if findings.quarantine_reasons and "quarantine_over" in events:
        lines.append("first quarantine reasons:")
        lines += [f"  - {reason} ({n} rows)" for reason, n in findings.quarantine_reasons[:SHOWN]]
    lines.append("more: " + "; ".join(_commands(project.root, events)))
    secrets = secrets_of(project)
    text = scrub("\n".join(lines), secrets)
    payload = {
        "text": text,
        "project": name,
        "run_id": findings.run_id,
        "events": {kind: len(found) for kind, found in events.items()},
        "counts": _totals(findings.files),
        "files": [_file_entry(f) for f in findings.files if f.status not in ("loaded",)][:50],
        "stale": [s.describe() for s in findings.stale] if "stale" in events else [],
    }
    payload = json.loads(scrub(json.dumps(payload), secrets))
    return Message(scrub(subject, secrets), text, payload)


def _event_title(kind: str) -> str:
    return {
        "rejected": "rejected",
        "failed": "failed",
        "quarantine_over": "over the quarantine threshold",
        "stale": "stale",
    }[kind]


def _run_line(findings: Findings) -> str:
    where = f"project {findings.project.root.resolve()}"
    if findings.error is not None:
        return f"{where}: the run failed: {without_values(findings.error)}"
    return f"{where}, run {findings.run_id}"


def _totals(files: Sequence[FileResult]) -> dict[str, int]:
    statuses = Counter(f.status for f in files)
    totals = {f"files_{s}": statuses.get(s, 0) for s in ("loaded", "rejected", "failed")}
    totals["files_duplicate"] = statuses.get("duplicate", 0)
    for count in ("rows_read", "rows_loaded", "rows_unchanged", "rows_quarantined"):
        totals[count] = sum(getattr(f, count) for f in files)
    return totals


def _counts(files: Sequence[FileResult]) -> list[str]:
    if not files:
        return []
    t = _totals(files)
    return [
        f"{len(files)} files: {t['files_loaded']} loaded, {t['files_rejected']} rejected,"
        f" {t['files_failed']} failed, {t['files_duplicate']} duplicate",
        f"rows: {t['rows_read']} read, {t['rows_loaded']} loaded, {t['rows_unchanged']}"
        f" unchanged, {t['rows_quarantined']} quarantined",
    ]


def _file_entry(file: FileResult) -> dict[str, Any]:
    return {
        "path": file.path,
        "source": file.source,
        "status": file.status,
        "rows_read": file.rows_read,
        "rows_quarantined": file.rows_quarantined,
        "reason": without_values(file.error) if file.error else None,
    }


def file_line(file: FileResult) -> str:
    source = f" ({file.source})" if file.source else ""
    reason = f": {without_values(file.error)}" if file.error else ""
    return f"{file.path}{source}{reason}"


def _commands(root: Path, events: dict[str, list[str]]) -> list[str]:
    project = f"--project {root.resolve()}"
    commands = []
    for status in ("rejected", "failed"):
        if status in events:
            commands.append(f"tidegate files --status {status} {project}")
    if "quarantine_over" in events:
        commands.append(f"tidegate quarantine {project}")
    commands.append(f"tidegate runs {project}")
    return commands
