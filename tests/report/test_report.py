"""``tidegate report``: the page holds what the ledger holds, and a real browser draws it.

The browser is Debian's Chromium, driven by Playwright (its own browser download is not
used). Under ``CI=true`` a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import unavailable
from tests.pipeline.conftest import (
    PEOPLE_SCD2_TARGET,
    land,
    people_csv,
    tidegate,
    write_project,
)

from tidegate.clock import utcnow
from tidegate.config import load_project
from tidegate.sql import lit, table
from tidegate.sql import update as sql_update
from tidegate.warehouse import connect

# One pytest-xdist worker runs this module: it shares the module's browser and project.
pytestmark = pytest.mark.xdist_group("report")

VERSIONED = {"targets/people.yml": PEOPLE_SCD2_TARGET}
SECRET_VALUE = "not-an-email-[/x]<script>alert(1)</script>"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("Chromium", "it is not installed (Debian package 'chromium')")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path,
            args=[
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs into an scd2 target: new keys, a change with a bad row, a duplicate.

    Made once for the module: ``tidegate report`` only reads the ledger, and each test
    writes its page to a path of its own."""
    root = write_project(tmp_path_factory.mktemp("report") / "project", VERSIONED)
    land(
        root,
        "people1.csv",
        people_csv(("1", "Ann", "ann@x.org", "01/02/1990"), ("2", "Bo", "bo@x.org", "")),
    )
    assert tidegate(root, "run").returncode == 0
    land(
        root,
        "people2.csv",
        people_csv(("1", "Ann B", "ann@x.org", ""), ("3", "Cy", SECRET_VALUE, "")),
    )
    assert tidegate(root, "run").returncode == 0
    land(
        root,
        "people1-again.csv",
        people_csv(("1", "Ann", "ann@x.org", "01/02/1990"), ("2", "Bo", "bo@x.org", "")),
    )
    assert tidegate(root, "run").returncode == 0
    return root


def test_report_holds_the_ledger(loaded: Path) -> None:
    out = loaded / "out" / "report.html"
    done = tidegate(loaded, "report", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "3 runs" in done.stdout
    html = out.read_text(encoding="utf-8")
    assert "people1.csv" in html and "people2.csv" in html
    assert "pattern (people.email)" in html  # the top reason, with its target and column
    assert "<script>alert(1)</script>" not in html  # every value escaped
    assert "http://" not in html and "https://" not in html  # nothing fetched at view time


def test_since_limits_the_window(loaded: Path) -> None:
    out = loaded / "recent.html"
    assert tidegate(loaded, "report", "--out", str(out), "--since", "1h").returncode == 0
    assert tidegate(loaded, "report", "--out", str(out), "--since", "0s").returncode == 0
    assert "no runs in this window" in out.read_text(encoding="utf-8")


def test_a_bad_since_is_a_configuration_error(loaded: Path) -> None:
    done = tidegate(loaded, "report", "--since", "a week")
    assert done.returncode == 2
    assert "--since" in done.stderr and "'a week'" in done.stderr


def test_a_project_without_runs_has_a_report(tmp_path: Path) -> None:
    root = write_project(tmp_path / "empty")
    out = root / "report.html"
    assert tidegate(root, "report", "--out", str(out)).returncode == 0
    assert "no runs in this window" in out.read_text(encoding="utf-8")


def _marks(page: Any) -> dict[str, int]:
    return dict(
        page.eval_on_selector_all(
            "figure",
            """figures => figures.map(f => [f.querySelector('figcaption').textContent,
                f.querySelectorAll('svg.chart rect.mark').length])""",
        )
    )


def _sizes(page: Any) -> list[float]:
    return list(
        page.eval_on_selector_all(
            "svg.chart", "svgs => svgs.map(s => s.getBoundingClientRect().width)"
        )
    )


def test_a_browser_draws_the_report(loaded: Path, browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert tidegate(loaded, "report", "--out", str(out)).returncode == 0
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(out.as_uri())
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert problems == []
    marks = _marks(page)
    # Two series (loaded, quarantined) for three runs; one bar per run for the durations.
    assert marks["Rows per run"] == 6
    assert marks["Duration per run"] == 3
    assert marks["Rows per source"] == 2  # one source, two series
    assert marks["people: versions per run"] == 4  # two runs gained versions, two series
    assert any(
        name.startswith("Open quarantined rows by reason") and n == 1 for name, n in marks.items()
    )
    assert all(width > 300 for width in _sizes(page))  # drawn, at a laptop's width
    page.set_viewport_size({"width": 390, "height": 800})  # a phone still sees whole charts
    assert all(0 < width <= 390 for width in _sizes(page))
    page.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_sorting_a_table_in_the_browser(loaded: Path, browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert tidegate(loaded, "report", "--out", str(out)).returncode == 0
    page = browser.new_page()
    page.goto(out.as_uri())
    first = "section:nth-of-type(1) table tbody tr td:nth-child(4)"
    page.click("section:nth-of-type(1) table thead th:nth-child(4)")  # files, descending
    values = [int(v) for v in page.eval_on_selector_all(first, "c => c.map(x => x.textContent)")]
    assert values == sorted(values, reverse=True)
    page.close()


PROTECTED = {
    "tidegate.yml": """\
        warehouse: {type: duckdb, path: warehouse.duckdb}
        settle_seconds: 0
        privacy: {secret: report-test-secret-0123456789}
        sources: {expect_every: 1h}
        """,
    "targets/people.yml": """\
        columns:
          id:     {type: integer, required: true}
          name:   {type: varchar, required: true}
          email:  {type: varchar, pattern: '^[^@]+@[^@]+$', pii: hash}
          born:   {type: date, formats: ['%m/%d/%Y']}
        key: [id]
        """,
}


def _age_ledger(root: Path, by: timedelta) -> None:
    """Move every ledger time back, as if the last file had come ``by`` ago."""
    with connect(load_project(root)) as wh, wh.transaction():
        for name in ("files", "runs"):
            old = utcnow() - by
            wh.execute(sql_update(table(name, wh.schemas.meta), {"started_at": old}, lit(True)))


def test_personal_values_stay_protected_and_a_quiet_source_is_stale(tmp_path: Path) -> None:
    root = write_project(tmp_path / "protected", PROTECTED)
    land(root, "people1.csv", people_csv(("1", "Ann", "ann.private-at-example", "")))
    assert tidegate(root, "run").returncode == 0
    _age_ledger(root, timedelta(hours=2))  # longer ago than the source's expect_every
    out = root / "report.html"
    assert tidegate(root, "report", "--out", str(out)).returncode == 0
    html = out.read_text(encoding="utf-8")
    assert "pattern (people.email)" in html
    assert "ann.private-at-example" not in html  # shown hashed, as the quarantine holds it
    assert ">stale<" in html
