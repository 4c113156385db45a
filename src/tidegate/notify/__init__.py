"""Notifications: tell the project's ``notify:`` channels when something went wrong.

After every run (``tidegate run``, each run of ``watch``, a Dagster materialisation),
each channel gets at most one message, covering the events it subscribed to that the run
found: ``rejected`` and ``failed`` files, files whose quarantined rows are over the
threshold (``quarantine_over``), and ``stale`` sources or waiting files. Delivery is retried
with backoff; a channel that still fails is logged and reported with the run, and never
fails the run: the load was committed before any message is sent.

A stale finding is told once, then again only after another ``expect_every`` if it still
holds, so a ``watch`` heartbeat does not repeat it every few seconds. What was told when is
kept in ``.tidegate/notify.json`` in the project.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tidegate.clock import utcnow
from tidegate.config.models import NotifyChannel, Project
from tidegate.errors import TidegateError
from tidegate.notify import stale as stale_check
from tidegate.notify.channels import Delivery, send
from tidegate.notify.message import Findings, compose, file_line
from tidegate.notify.stale import Stale
from tidegate.pipeline import FileResult, RunResult
from tidegate.warehouse import connect, ledger
from tidegate.warehouse.base import Warehouse

__all__ = ["Delivery", "Stale", "after_run", "notify", "run_failed"]

log = logging.getLogger("tidegate.notify")
log.addHandler(logging.NullHandler())  # the CLI prints its own line; apps configure logging
STATE_FILE = Path(".tidegate") / "notify.json"
REASON_FILES = 20  # files whose quarantine is read for the first reasons


def after_run(project: Project, result: RunResult) -> list[dict[str, Any]]:
    """Notify every channel that wants to hear of what this run found; never raises."""
    if not project.config.notify:
        return []
    try:
        findings = _findings(project, result)
        return [asdict(d) for d in notify(findings, stale_checked=True)]
    except Exception as exc:  # the load is committed: a notification problem must not undo it
        log.warning("notifications skipped: %s", exc, exc_info=not isinstance(exc, TidegateError))
        return [{"channel": "all", "delivered": False, "error": type(exc).__name__}]


def run_failed(project: Project, error: BaseException) -> list[dict[str, Any]]:
    """Tell the ``failed`` channels that a run could not run at all."""
    if not project.config.notify:
        return []
    try:
        return [asdict(d) for d in notify(Findings(project, None, error=str(error)))]
    except Exception as exc:  # the caller is raising the run's own error: keep that one
        log.warning("notifications skipped: %s", exc)
        return []


def notify(findings: Findings, stale_checked: bool = False) -> list[Delivery]:
    """One message per channel with something to say. With ``stale_checked`` (the
    findings hold every stale finding of now), the stale state is brought up to date."""
    project = findings.project
    state = _read_state(project)
    fresh = [s for s in findings.stale if _due(s, state)]
    messages = []
    for channel in project.config.notify:
        events = events_for(channel, findings, fresh)
        if events:
            messages.append((channel, compose(findings, events)))
    # Channels in parallel: one slow or dead channel does not hold up the others.
    with ThreadPoolExecutor(max_workers=max(len(messages), 1)) as pool:
        deliveries = list(pool.map(lambda pair: send(*pair), messages))
    for delivery in deliveries:
        if not delivery.delivered:
            log.warning("notification not delivered: %s: %s", delivery.channel, delivery.error)
    if stale_checked:
        told = fresh if any(d.delivered and "stale" in d.events for d in deliveries) else []
        _update_state(project, state, findings.stale, told)
    return deliveries


def events_for(
    channel: NotifyChannel, findings: Findings, stale: list[Stale]
) -> dict[str, list[str]]:
    """The lines of each event this channel subscribed to and the run found."""
    found: dict[str, list[str]] = {}
    files = findings.files
    if "failed" in channel.on and findings.error is not None:
        found["failed"] = ["the run itself (see above)"]
    for status in ("rejected", "failed"):
        hits = [file_line(f) for f in files if f.status == status]
        if status in channel.on and hits:
            found[status] = [*found.get(status, []), *hits]
    over = [f for f in files if _quarantine_over(findings.project, channel, f)]
    if "quarantine_over" in channel.on and over:
        found["quarantine_over"] = [
            f"{f.path} ({f.source}): {f.rows_quarantined} of {f.rows_read} rows quarantined"
            for f in over
        ]
    if "stale" in channel.on and stale:
        found["stale"] = [s.describe() for s in stale]
    return found


def _quarantine_over(project: Project, channel: NotifyChannel, file: FileResult) -> bool:
    if file.rows_quarantined == 0:
        return False
    limit = channel.quarantine_threshold
    if limit is None:
        source = project.sources.get(file.source or "")
        limits = [
            project.targets[o.target].reject_file_over
            for o in (source.outputs if source else [])
            if o.target in project.targets
        ]
        limit = next((x for x in limits if x is not None), None)
    return limit is None or over_limit(file.rows_quarantined, file.rows_read, limit)


def over_limit(bad: int, total: int, limit: str | int) -> bool:
    """``bad`` rows over ``'10%'`` of ``total``, or over a count."""
    text = str(limit).strip()
    if text.endswith("%"):
        return total > 0 and bad * 100 > float(text[:-1]) * total
    return bad > int(text)


# --------------------------------------------------------------------------- findings


def _findings(project: Project, result: RunResult) -> Findings:
    findings = Findings(project, result.run_id, files=list(result.files))
    wants_stale = any("stale" in c.on for c in project.config.notify)
    with connect(project) as wh:
        if wants_stale:
            findings.stale = stale_check.check(project, wh)
        findings.quarantine_reasons = _reasons(wh, result.files)
    return findings


def _reasons(wh: Warehouse, files: list[FileResult]) -> list[tuple[str, int]]:
    """The commonest quarantine reasons of the run, as ``target.column: rule`` (no value)."""
    counts: Counter[str] = Counter()
    bad = [f for f in files if f.rows_quarantined and f.file_id][:REASON_FILES]
    for file in bad:
        assert file.file_id is not None
        for record in ledger.list_quarantine(wh, file_id=file.file_id, status=None):
            for reason in json.loads(record.reasons):
                where = ".".join(x for x in (record.target, reason.get("column")) if x)
                counts[f"{where or record.source}: {reason.get('rule') or 'invalid'}"] += 1
    return counts.most_common()


# --------------------------------------------------------------------------- stale state


def _read_state(project: Project) -> dict[str, str]:
    try:
        data = json.loads((project.root / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.get("stale", {}).items()}


def _due(finding: Stale, state: dict[str, str]) -> bool:
    told = state.get(finding.key)
    return told is None or utcnow() - datetime.fromisoformat(told) >= finding.limit


def _update_state(
    project: Project, state: dict[str, str], current: list[Stale], told: list[Stale]
) -> None:
    """Forget findings that cleared (so they are told again when they return), note the
    ones told now."""
    now = utcnow().isoformat()
    keys = {s.key for s in current}
    merged = {k: v for k, v in state.items() if k in keys} | {s.key: now for s in told}
    if merged == state:
        return
    path = project.root / STATE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"stale": merged}, indent=1), encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:  # a read-only project still loads; it may repeat an alert
        log.warning("cannot keep the notification state in %s: %s", path, exc)
