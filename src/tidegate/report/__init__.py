"""``tidegate report``: one self-contained HTML page of what the ledger knows.

collect   the facts, from the ledger and the targets (data.py)
render    the page, with its charts drawn as inline SVG (page.py, charts.py)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tidegate.clock import utcnow
from tidegate.config.models import Project
from tidegate.report.data import Facts, collect
from tidegate.report.page import render
from tidegate.warehouse import connect

__all__ = ["Facts", "collect", "render", "write"]


def write(project: Project, out: Path, since: timedelta | None = None) -> Facts:
    """Write the report of the runs started in the last ``since`` (all runs: None)."""
    with connect(project) as wh:
        facts = collect(wh, project, utcnow(), since)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(facts), encoding="utf-8")
    return facts
