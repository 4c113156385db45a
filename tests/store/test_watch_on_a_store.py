"""``tidegate watch`` on a bucket: no change events, so landing is listed every poll_seconds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.pipeline.conftest import PEOPLE_SOURCE, PEOPLE_TARGET, people_csv

from .conftest import Place

PROJECT = "warehouse: {type: duckdb, path: warehouse.duckdb}\nsettle_seconds: 0\n"


def test_watch_polls_a_bucket_and_stops_on_sigterm(tmp_path: Path, bucket: str) -> None:
    root = tmp_path / "p"
    place = Place("s3", root, bucket)
    files = {
        "tidegate.yml": PROJECT + place.config() + "poll_seconds: 0.5\n",
        "targets/people.yml": PEOPLE_TARGET,
        "sources/people.yml": PEOPLE_SOURCE,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "tidegate.cli", "watch", "--json", "--project", str(root)]
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        place.land("people_1.csv", people_csv(("1", "Ada", "ada@example.org", "12/10/1815")))
        deadline = time.monotonic() + 90
        # Only list while the watcher may be moving the file: reading a key it is
        # archiving at that moment would race with it.
        while place.keys("landing") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert place.keys("landing") == []
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert f"watching s3://{bucket}/landing/" in err
    runs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [f["status"] for r in runs for f in r["files"]] == ["loaded"]
    assert len(place.folder("archive")) == 1
