"""The project log: JSON lines, rotated, levels from the flag or the environment, no secret."""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidegate import log


@pytest.fixture
def logfile(tmp_path: Path) -> Iterator[Path]:
    path = log.configure(tmp_path, "debug")
    yield path
    for handler in list(log.logger.handlers):
        log.logger.removeHandler(handler)
        handler.close()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_event_is_one_json_line(logfile: Path) -> None:
    log.event("loaded", file="people.csv", rows=3)
    with log.step("read", file="people.csv") as counts:
        counts["rows"] = 3
    lines = _lines(logfile)
    assert [line["event"] for line in lines] == ["loaded", "read"]
    assert lines[0]["rows"] == 3 and lines[0]["level"] == "info"
    assert lines[1]["rows"] == 3 and isinstance(lines[1]["seconds"], float)
    assert logfile == logfile.parent / "tidegate.log" and logfile.parent.name == "logs"


def test_passwords_in_urls_never_reach_the_file(logfile: Path) -> None:
    log.event("failed", reason="cannot connect to postgresql://me:hunter2@db/x")
    text = logfile.read_text()
    assert "hunter2" not in text and "postgresql://me:***@db/x" in text


def test_reasons_lose_their_values() -> None:
    masked = log.mask_values("row 4, column 'email': 'ann@x.org' does not match '^[a-z]+$'")
    assert "ann@x.org" not in masked and masked.count("'...'") == 3


def test_the_level_comes_from_the_flag_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(log.ENV_LEVEL, "warning")
    assert log.level_of(None) == logging.WARNING
    assert log.level_of("debug") == logging.DEBUG
    with pytest.raises(ValueError, match="'loud'"):
        log.level_of("loud")
    path = log.configure(tmp_path, None)
    log.event("quiet")  # info, under warning: not written
    log.event("loud", logging.ERROR)
    assert [line["event"] for line in _lines(path)] == ["loud"]


def test_the_file_rotates(logfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = log.logger.handlers[0]
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    handler.maxBytes = 2_000
    for n in range(100):
        log.event("loaded", file=f"file-{n}.csv", rows=n)
    rotated = sorted(p.name for p in logfile.parent.iterdir())
    assert rotated[0] == "tidegate.log" and "tidegate.log.1" in rotated
    assert len(rotated) <= 1 + log.BACKUPS
