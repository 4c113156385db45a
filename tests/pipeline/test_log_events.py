"""The project log: one event per file step, with counts and timings, and no value of a file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pipeline.conftest import land, people_csv, tidegate

PERSONAL = ("Ann Smith", "ann.smith@example.org", "not-an-email-zqx", "Zed Private")


def _events(root: Path) -> list[dict[str, object]]:
    path = root / ".tidegate" / "logs" / "tidegate.log"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_step_of_a_file_is_logged_without_its_values(project: Path) -> None:
    land(
        project,
        "people1.csv",
        people_csv(("1", PERSONAL[0], PERSONAL[1], "01/02/1990"), ("2", "Bo", PERSONAL[2], "")),
    )
    land(project, "unknown.csv", f"who,mail\n{PERSONAL[3]},{PERSONAL[1]}\n")
    done = tidegate(project, "run")
    assert done.returncode == 1  # unknown.csv matches no source
    events = _events(project)
    steps = [e["event"] for e in events if e.get("file") == "people1.csv"]
    assert steps == ["discovered", "read", "checked", "loaded", "archived"]
    by_step = {e["event"]: e for e in events if e.get("file") == "people1.csv"}
    assert by_step["read"]["rows"] == 2 and isinstance(by_step["read"]["seconds"], float)
    assert by_step["checked"]["quarantined"] == 1
    assert by_step["loaded"]["rows"] == 1
    rejected = next(
        e for e in events if e.get("file") == "unknown.csv" and e["event"] != "discovered"
    )
    assert rejected["event"] == "rejected" and rejected["level"] == "warning" and rejected["reason"]
    assert events[0]["event"] == "run started" and events[-1]["event"] == "run finished"
    text = (project / ".tidegate" / "logs" / "tidegate.log").read_text(encoding="utf-8")
    for value in PERSONAL:
        assert value not in text


def test_the_level_comes_from_the_flag_or_the_environment(project: Path) -> None:
    land(project, "people1.csv", people_csv(("1", "Ann", "ann@x.org", "01/02/1990")))
    assert tidegate(project, "--log-level", "warning", "run").returncode == 0
    assert not (project / ".tidegate" / "logs" / "tidegate.log").read_text()
    land(project, "people2.csv", people_csv(("2", "Bo", "bo@x.org", "01/02/1990")))
    assert tidegate(project, "run", env={"TIDEGATE_LOG_LEVEL": "debug"}).returncode == 0
    assert any(e["event"] == "loaded" for e in _events(project))
    bad = tidegate(project, "--log-level", "loud", "status")
    assert bad.returncode == 2 and "'loud'" in bad.stderr
