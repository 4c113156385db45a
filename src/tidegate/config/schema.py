"""JSON Schemas of the project's YAML files, for editors that complete and check them.

One schema per kind of file, generated from the same pydantic models that validate the
files at run time, so the editor and ``tidegate check`` never disagree about a field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tidegate import __version__
from tidegate.config.models import ProjectConfig, SourceConfig, TargetConfig

DRAFT = "https://json-schema.org/draft/2020-12/schema"
KINDS: dict[str, tuple[type[BaseModel], str, str]] = {
    "tidegate": (
        ProjectConfig,
        "tidegate.yml",
        "A tidegate project: warehouse, folders, defaults.",
    ),
    "target": (TargetConfig, "targets/*.yml", "A warehouse table: columns, types, rules, key."),
    "source": (SourceConfig, "sources/*.yml", "A family of files: how to recognise, read, map."),
}
FOLDER = ".tidegate-schemas"  # in a project: beside the YAML, named so it sorts out of sight


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind of file (``tidegate``, ``target`` or ``source``)."""
    model, files, description = KINDS[kind]
    generated = model.model_json_schema(mode="validation")
    return {
        "$schema": DRAFT,
        "$id": f"tidegate-{__version__}-{kind}.schema.json",
        **generated,
        "title": f"tidegate {files}",
        "description": description,
    }


def file_name(kind: str) -> str:
    return f"{kind}.schema.json"


def write(out: Path) -> list[Path]:
    """Every schema into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = out / file_name(kind)
        path.write_text(json.dumps(schema(kind), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def editor_settings(project: Path) -> list[Path]:
    """The schemas into the project, and ``.vscode/settings.json`` mapping each to its files
    (the YAML extension's ``yaml.schemas``); settings already there are kept."""
    written = write(project / FOLDER)
    settings_path = project / ".vscode" / "settings.json"
    settings: dict[str, Any] = {}
    if settings_path.exists():
        settings = json.loads(settings_path.read_text(encoding="utf-8") or "{}")
    mapping = dict(settings.get("yaml.schemas", {}))
    for kind, (_, files, _) in KINDS.items():
        mapping[f"./{FOLDER}/{file_name(kind)}"] = files
    settings["yaml.schemas"] = mapping
    settings_path.parent.mkdir(parents=True, exist_ok=True)
    settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return [*written, settings_path]
