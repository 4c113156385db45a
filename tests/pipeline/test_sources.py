"""A run restricted to some sources (what an orchestrator asks for): other files wait."""

from __future__ import annotations

from pathlib import Path

from tidegate.config import load_project
from tidegate.pipeline import run

from .conftest import land, people_csv, write_project

PETS_TARGET = """\
columns:
  name: {type: varchar, required: true}
load: append
"""
PETS_SOURCE = """\
match: "pets*.csv"
outputs:
  - target: pets
    columns: {name: '"Name"'}
"""


def test_a_run_of_some_sources_leaves_the_other_files_in_landing(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", {"targets/pets.yml": PETS_TARGET, "sources/pets.yml": PETS_SOURCE}
    )
    land(root, "people_1.csv", people_csv(("1", "Ada", "ada@example.org", "12/10/1815")))
    land(root, "pets_1.csv", "Name\nRex\n")
    land(root, "stranger.txt", "?\n")

    only_pets = run(load_project(root), sources=["pets"])

    assert [(f.path, f.status) for f in only_pets.files] == [("pets_1.csv", "loaded")]
    remaining = sorted(p.name for p in (root / "landing").iterdir())
    assert remaining == ["people_1.csv", "stranger.txt"]

    everything = run(load_project(root))
    assert sorted((f.path, f.status) for f in everything.files) == [
        ("people_1.csv", "loaded"),
        ("stranger.txt", "rejected"),
    ]
