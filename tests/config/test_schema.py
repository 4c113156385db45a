"""The JSON Schemas editors use agree with the loader: every example validates, typos do not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.pipeline.conftest import tidegate

from tidegate.config.schema import FOLDER, KINDS, schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _files(kind: str) -> list[Path]:
    pattern = KINDS[kind][1]
    return sorted(
        p for example in EXAMPLES.iterdir() if example.is_dir() for p in example.glob(pattern)
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_example_file_validates(kind: str) -> None:
    files = _files(kind)
    assert files, f"no example files for {kind}"
    validator = jsonschema.Draft202012Validator(schema(kind))
    for path in files:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], f"{path}: {errors}"


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("target", {"columns": {"id": {"type": "integer", "requierd": True}}}),
        ("target", {"columns": {"id": {"type": "integer"}}, "load": "upsert"}),
        ("source", {"match": "*.csv", "outputz": []}),
        ("tidegate", {"warehouse": {"type": "duckdb", "paht": "x.duckdb"}}),
    ],
)
def test_a_typo_is_flagged(kind: str, document: dict[str, Any]) -> None:
    assert list(jsonschema.Draft202012Validator(schema(kind)).iter_errors(document))


def test_schema_command_writes_the_three_files(tmp_path: Path) -> None:
    done = tidegate(None, "schema", "--out", str(tmp_path / "schemas"))
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == ["source.schema.json", "target.schema.json", "tidegate.schema.json"]
    for path in (tmp_path / "schemas").iterdir():
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_init_points_editors_at_the_schemas(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert tidegate(None, "init", str(root)).returncode == 0
    settings = json.loads((root / ".vscode" / "settings.json").read_text())
    mapping = settings["yaml.schemas"]
    assert mapping[f"./{FOLDER}/target.schema.json"] == "targets/*.yml"
    for schema_path in mapping:
        assert (root / schema_path).is_file()
    assert tidegate(root, "check").returncode == 0  # the schema folder does not disturb a project
