"""api: sources against a real HTTP API: paging, retries, the breaker, bad pages, a kill."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.sources import pull, pull_with
from tidegate.sources.state import cursor_of
from tidegate.warehouse import connect

from ..pipeline.conftest import tidegate
from .conftest import COUNTS, TABLES, landed_records, make_project, serve, source_doc, target_rows

DUCKDB = "warehouse: {type: duckdb, path: warehouse.duckdb}"
SUBSCRIPTION_COLUMNS = ["id", "customer_id", "car_id", "created_at", "term_months"]
FAST = {"attempts": 3, "backoff_seconds": 0.01}


def example_sources(url: str, **subscriptions: Any) -> dict[str, dict[str, Any]]:
    """The three sources the way the example pulls them (subscriptions: incremental)."""
    return {
        "cars": source_doc(
            "cars",
            url,
            params={"limit": 200},
            paginate={"type": "page", "param": "page"},
            pages_per_file=0,
        ),
        "customers": source_doc(
            "customers",
            url,
            paginate={"type": "offset", "param": "offset", "limit": 100},
            pages_per_file=0,
        ),
        "subscriptions": source_doc(
            "subscriptions",
            url,
            **{
                "params": {"limit": 100},
                "paginate": {"type": "cursor", "param": "cursor", "next": "next"},
                "cursor": {"field": "created_at", "param": "since"},
                "pages_per_file": 2,
                **subscriptions,
            },
        ),
    }


def one_source(root: Path, url: str, name: str = "cars", **api: Any) -> Path:
    return make_project(root, DUCKDB, {name: source_doc(name, url, **{"retry": FAST, **api})})


def by_source(results: list[Any]) -> dict[str, Any]:
    return {r.source: r for r in results}


# --------------------------------------------------------------------------- paging


PAGING = {
    "page": {"params": {"limit": 150}, "paginate": {"type": "page", "param": "page"}},
    "offset": {"paginate": {"type": "offset", "param": "offset", "limit": 150}},
    "cursor": {
        "params": {"limit": 150},
        "paginate": {"type": "cursor", "param": "cursor", "next": "next"},
    },
    "link": {"params": {"limit": 150}, "paginate": {"type": "link"}},
}


@pytest.mark.parametrize("kind", list(PAGING))
def test_each_kind_of_paging_lands_every_record_once(api: Any, tmp_path: Path, kind: str) -> None:
    root = one_source(tmp_path / "p", api.url, **PAGING[kind], pages_per_file=3)
    [result] = pull(load_project(root))
    records = landed_records(root, "cars")
    assert result.status == "pulled"
    assert len(records) == result.records == COUNTS["cars"]
    assert len({r["id"] for r in records}) == COUNTS["cars"]
    assert len(result.files) == 3  # 8 pages of 150, three to a file
    assert all(name.startswith("api/cars/cars-") for name in result.files)


def test_a_second_pull_of_unchanged_data_writes_nothing_new(api: Any, tmp_path: Path) -> None:
    root = one_source(tmp_path / "p", api.url, **PAGING["page"])
    [first] = pull(load_project(root))
    before = {p: p.stat().st_mtime_ns for p in (root / "landing").rglob("*.jsonl")}
    [second] = pull(load_project(root))
    assert second.files == [] and second.unchanged == first.files
    assert {p: p.stat().st_mtime_ns for p in (root / "landing").rglob("*.jsonl")} == before


def test_an_incremental_pull_asks_from_the_cursor_and_lands_nothing_twice(
    api: Any, tmp_path: Path
) -> None:
    doc = example_sources(api.url)["subscriptions"]
    root = make_project(tmp_path / "p", DUCKDB, {"subscriptions": doc})
    [first] = pull(load_project(root))
    assert first.records == COUNTS["subscriptions"]
    newest = max(r["created_at"] for r in landed_records(root, "subscriptions"))
    api.state.requests.clear()
    [second] = pull(load_project(root))
    assert (second.status, second.records, second.files) == ("pulled", 0, [])
    assert api.state.requests[0].startswith("/subscriptions?")
    assert "since=" + newest.replace(" ", "+").replace(":", "%3A") in api.state.requests[0]
    with connect(load_project(root)) as wh:
        assert cursor_of(wh, "subscriptions").value == newest


# --------------------------------------------------------------------------- the run


def test_run_pulls_then_loads_the_exercise_exactly_once(
    api: Any, tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = make_project(tmp_path / "p", warehouse(), example_sources(api.url))
    result = run(load_project(root))
    assert [p.status for p in result.pulls] == ["pulled"] * 3
    assert result.ok
    loaded: dict[str, int] = {}
    for f in result.files:
        assert f.status == "loaded", f
        loaded[f.source or ""] = loaded.get(f.source or "", 0) + f.rows_loaded
    assert loaded == COUNTS
    assert {f.name for f in result.files if f.source == "subscriptions"} == {
        f"subscriptions-{result.pulls[2].files[0].split('-')[1]}-{n:05d}.jsonl" for n in range(1, 7)
    }
    again = run(load_project(root))
    assert [f.status for f in again.files if f.source == "subscriptions"] == []
    assert {f.status for f in again.files} == {"duplicate"}  # the snapshots, unchanged
    assert len(target_rows(root, "subscriptions", ["id"])) == COUNTS["subscriptions"]
    assert not list((root / "landing").rglob("*.jsonl"))


# --------------------------------------------------------------------------- retries


def test_a_500_and_a_429_are_retried_and_retry_after_is_honoured(api: Any, tmp_path: Path) -> None:
    root = one_source(tmp_path / "p", api.url, **PAGING["page"])
    api.state.faults += [serve.Fault("/cars", 2, "500"), serve.Fault("/cars", 4, "429")]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    project = load_project(root)
    with connect(project) as wh:
        [result] = pull_with(project, wh, sleep=sleep)
    assert (result.status, result.retries, result.records) == ("pulled", 2, COUNTS["cars"])
    assert waits[1] == 1.0  # what Retry-After asked for
    assert 0.005 <= waits[0] <= 0.01  # backoff_seconds with jitter, first retry


def test_a_timeout_is_retried(api: Any, tmp_path: Path) -> None:
    api.state.slow_seconds = 8  # far over the timeout, so a loaded machine cannot blur it
    api.state.faults.append(serve.Fault("/cars", 1, "slow"))
    root = one_source(tmp_path / "p", api.url, **PAGING["page"], timeout_seconds=2)
    [result] = pull(load_project(root))
    assert (result.status, result.retries, result.records) == ("pulled", 1, COUNTS["cars"])


def test_retries_spent_leave_the_source_unavailable_and_keep_what_landed(
    api: Any, tmp_path: Path
) -> None:
    api.state.faults += [serve.Fault("/cars", n, "503") for n in range(3, 6)]
    root = one_source(tmp_path / "p", api.url, **PAGING["page"], pages_per_file=1)
    [result] = pull(load_project(root))
    assert result.status == "unavailable"
    assert result.error == (
        f"source 'cars': unavailable: HTTP 503 Service Unavailable from {api.url}/cars, 3 attempts"
    )
    assert len(result.files) == 2  # the pages before the failure
    assert len(landed_records(root, "cars")) == 2 * 150


# --------------------------------------------------------------------------- the breaker


def test_the_breaker_opens_stops_calling_across_runs_then_tries_again(
    api: Any, tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    api.state.faults += [serve.Fault("/cars", n, "500") for n in range(2, 10)]
    doc = source_doc(
        "cars",
        api.url,
        **PAGING["page"],
        pages_per_file=1,
        retry={"attempts": 5, "backoff_seconds": 0},
        breaker={"failures": 2, "cooldown_seconds": 3600},
    )
    root = make_project(tmp_path / "p", warehouse(), {"cars": doc})
    [first] = pull(load_project(root))
    assert first.status == "unavailable"
    assert "circuit breaker opened after 2 failed requests in a row" in (first.error or "")
    assert api.state.counts["/cars"] == 3  # page 1, then two failures: no third attempt
    assert len(first.files) == 1  # page 1 stays

    shown = tidegate(root, "pull")  # another process, the same warehouse
    assert shown.returncode == 1
    assert api.state.counts["/cars"] == 3  # no request during the cool-down
    assert "circuit breaker open after 2 failed requests" in shown.stderr
    assert "cars" in shown.stderr

    api.state.faults.clear()
    cooled = yaml_replace(
        root / "sources" / "cars.yml", "cooldown_seconds: 3600", "cooldown_seconds: 0"
    )
    [trial] = pull(load_project(cooled))
    assert (trial.status, trial.records) == ("pulled", COUNTS["cars"])
    [after] = pull(load_project(cooled))
    assert after.status == "pulled"  # closed again: the count was reset


def yaml_replace(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path.parents[1]


# --------------------------------------------------------------------------- bad pages


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("malformed", "page 2 of {url}/subscriptions is not JSON"),
        ("missing", "page 2 of {url}/subscriptions has no 'data.items' (it has ['result'])"),
    ],
)
def test_a_malformed_page_is_rejected_and_the_cursor_does_not_pass_it(
    api: Any, tmp_path: Path, kind: str, reason: str
) -> None:
    api.state.faults.append(serve.Fault("/subscriptions", 2, kind))
    sources = example_sources(api.url, pages_per_file=1)
    root = make_project(tmp_path / "p", DUCKDB, {"subscriptions": sources["subscriptions"]})
    [result] = pull(load_project(root))
    assert result.status == "rejected"
    assert reason.format(url=api.url) in (result.error or "")
    rejected = Path(result.rejected or "")
    assert rejected.parent == root / "rejected" / "api" / "subscriptions"
    note = rejected.with_name(rejected.name + ".reason.txt").read_text()
    assert reason.format(url=api.url) in note
    assert rejected.read_bytes() in (b'{"data": {"items": [{"id": ', b'{"result": []}')
    assert len(result.files) == 1  # page 1, before it
    with connect(load_project(root)) as wh:
        assert cursor_of(wh, "subscriptions").value is None  # not past the bad page

    [again] = pull(load_project(root))  # the API answers properly now
    assert again.status == "pulled"
    assert again.unchanged == result.files  # page 1's file, same name and bytes
    records = landed_records(root, "subscriptions")
    assert len(records) == len({r["id"] for r in records}) == COUNTS["subscriptions"]


def test_cli_pull_rejects_a_malformed_page_with_exit_1(api: Any, tmp_path: Path) -> None:
    api.state.faults.append(serve.Fault("/cars", 1, "malformed"))
    root = one_source(tmp_path / "p", api.url, **PAGING["page"])
    shown = tidegate(root, "pull")
    assert shown.returncode == 1, shown.stderr
    assert f"source 'cars': page 1 of {api.url}/cars is not JSON" in shown.stderr


# --------------------------------------------------------------------------- a kill


def _pull_process(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tidegate.cli", "pull", "--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_a_pull_killed_half_way_then_rerun_equals_a_clean_pull(
    api: Any, tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    clean = make_project(tmp_path / "clean", warehouse(), example_sources(api.url))
    run(load_project(clean))

    root = make_project(tmp_path / "killed", warehouse(), example_sources(api.url))
    api.state.counts.clear()
    api.state.faults.append(serve.Fault("/subscriptions", 5, "hold"))  # after two files
    process = _pull_process(root)
    try:
        assert api.state.held.wait(120), "the pull never reached page 5"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(60)
        api.state.release.set()
    assert process.returncode == -signal.SIGKILL
    assert len(landed_records(root, "subscriptions")) == 400  # two files of two pages

    partial = run(load_project(root))  # loads what landed; the pull starts again from the top
    pulled = by_source(partial.pulls)["subscriptions"]
    assert len(pulled.unchanged) == 2 and len(pulled.files) == 4
    assert partial.ok
    rerun = run(load_project(root))
    assert rerun.ok

    for name in TABLES:
        columns = SUBSCRIPTION_COLUMNS if name == "subscriptions" else ["id"]
        assert target_rows(root, name, columns) == target_rows(clean, name, columns)
    assert len(target_rows(root, "subscriptions", ["id"])) == COUNTS["subscriptions"]


# --------------------------------------------------------------------------- bad input


SECRET = "Bearer sk-live-do-not-print-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _secret_source(url: str) -> dict[str, Any]:
    return source_doc(
        "cars",
        url,
        headers={"Authorization": SECRET},
        params={"api_key": "key-do-not-print-987"},
        retry={"attempts": 2, "backoff_seconds": 0},
    )


def _assert_no_secret(root: Path, *texts: str) -> None:
    logged = "".join(p.read_text() for p in (root / ".tidegate" / "logs").glob("*.log*"))
    for text in (*texts, logged):
        assert "do-not-print" not in text


def test_an_unreachable_api_is_one_line_naming_the_source_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    root = make_project(tmp_path / "p", DUCKDB, {"cars": _secret_source(url)})
    shown = tidegate(root, "pull")
    assert shown.returncode == 2, shown.stderr
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: source 'cars': cannot connect to {url}/cars: ")
    assert lines[0].endswith(", 2 attempts (kept: 0 files, 0 records, 0 pages, 1 retries)")
    _assert_no_secret(root, shown.stdout, shown.stderr)
    ran = tidegate(root, "run")  # run pulls first: the same line, the same exit code
    assert ran.returncode == 2
    assert "source 'cars': cannot connect" in ran.stderr
    _assert_no_secret(root, ran.stdout, ran.stderr)


def test_refused_credentials_are_exit_2_without_the_token(tmp_path: Path) -> None:
    with serve.serving(serve.DATABASE, token="the-right-token") as guarded:
        root = make_project(tmp_path / "p", DUCKDB, {"cars": _secret_source(guarded.url)})
        shown = tidegate(root, "pull", "--json")
    assert shown.returncode == 2
    [result] = json.loads(shown.stdout)
    assert result["error"] == (
        f"source 'cars': HTTP 401 Unauthorized from {guarded.url}/cars;"
        " check the url, headers and params of its api: block"
    )
    _assert_no_secret(root, shown.stdout, shown.stderr)


def test_a_url_that_is_not_http_is_a_config_error_without_its_secret(tmp_path: Path) -> None:
    doc = _secret_source("ftp://user:pw-do-not-print@example.org")
    root = make_project(tmp_path / "p", DUCKDB, {"cars": doc})
    shown = tidegate(root, "pull")
    assert shown.returncode == 2
    assert "sources/cars.yml:" in shown.stderr
    assert "expected an http:// or https:// URL with a host" in shown.stderr
    _assert_no_secret(root, shown.stdout, shown.stderr)


def test_pull_names_an_unknown_source(api: Any, tmp_path: Path) -> None:
    root = one_source(tmp_path / "p", api.url, **PAGING["page"])
    shown = tidegate(root, "pull", "--source", "trucks")
    assert shown.returncode == 2
    assert "no api source 'trucks'; the api sources: cars" in shown.stderr
    assert tidegate(root, "pull", "--source", "cars").returncode == 0
