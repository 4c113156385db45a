"""Progress inside a large file: readings from the engine while it is read and loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipeline.conftest import write_project

from tidegate import progress
from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.progress import FileProgress

ROWS = 400_000


def test_a_large_file_reports_how_far_it_is(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "INTERVAL", 0.01)
    landing = project / "landing"
    landing.mkdir(exist_ok=True)
    with (landing / "people1.csv").open("w", encoding="utf-8") as out:
        out.write("ID,Full Name,E-mail,Born\n")
        for n in range(ROWS):
            out.write(f"{n},Person {n},p{n}@example.org,01/02/1990\n")
    size = (landing / "people1.csv").stat().st_size
    assert size >= progress.MIN_BYTES
    readings: list[FileProgress] = []
    result = run(load_project(project), during=readings.append)
    assert [f.status for f in result.files] == ["loaded"]
    assert readings, "no reading while a large file loaded"
    assert {r.path for r in readings} == {"people1.csv"}
    assert all(0 <= r.percent <= 100 and 0 <= r.bytes_done <= size for r in readings)
    assert all(r.rows == ROWS for r in readings if r.stage == "loading")
    stages = [r.stage for r in readings]
    assert stages == sorted(stages, key=["reading", "loading"].index)  # reading comes first


def test_small_files_are_not_watched(tmp_path: Path) -> None:
    root = write_project(tmp_path / "small")
    (root / "landing").mkdir()
    (root / "landing" / "people1.csv").write_text("ID,Full Name,E-mail,Born\n1,A,a@b.c,\n")
    readings: list[FileProgress] = []
    result = run(load_project(root), during=readings.append)
    assert [f.status for f in result.files] == ["loaded"] and readings == []
