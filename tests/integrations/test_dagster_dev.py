"""The real thing: ``dagster dev`` on loopback serves tidegate's assets and checks.

The server runs in its own process group with a temporary ``DAGSTER_HOME`` and is asked
through its GraphQL API. Under ``CI=true`` a server that does not come up fails the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.postgres import free_port

STARTUP_SECONDS = 240  # the machine is shared; a cold start imports a lot
QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""
DEFINITIONS = """\
from pathlib import Path

from tidegate.dagster import definitions

defs = definitions(Path(__file__).parent / "shop")
"""


def _default_signals() -> None:
    # A backgrounded child may inherit ignored signals; dagster dev must stop on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _graphql(port: int) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None
    nodes = (answer.get("data") or {}).get("assetNodes")
    return answer if nodes else None  # the code location may still be loading


@pytest.fixture
def dagster_dev(shop: Path, tmp_path: Path) -> Iterator[int]:
    (tmp_path / "defs.py").write_text(DEFINITIONS, encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    port = free_port()
    log = (tmp_path / "dagster-dev.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-f",
            str(tmp_path / "defs.py"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=tmp_path,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        yield port
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def test_dagster_dev_serves_the_assets_and_checks(dagster_dev: int, tmp_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    answer = None
    while answer is None and time.monotonic() < deadline:
        answer = _graphql(dagster_dev)
        if answer is None:
            time.sleep(1)
    if answer is None:
        log = (tmp_path / "dagster-dev.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"dagster dev did not serve the assets in {STARTUP_SECONDS}s:\n{log}")

    nodes = {"/".join(n["assetKey"]["path"]): n for n in answer["data"]["assetNodes"]}
    assert set(nodes) == {"customers", "orders", "erasure_requests", "order_totals"}
    assert nodes["customers"]["groupName"] == "customers"
    checks = {n["name"] for n in nodes["customers"]["assetChecksOrError"]["checks"]}
    assert checks == {"reconciled", "quarantine_rate", "freshness"}
    erasure = {n["name"] for n in nodes["erasure_requests"]["assetChecksOrError"]["checks"]}
    assert "erasures_applied" in erasure
