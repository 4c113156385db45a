"""What a measured worker process is asked to do, passed as a JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    """One step of one tool: load these files into this warehouse."""

    tool: str  # floor | dlt
    warehouse: str  # duckdb | postgres
    kind: str  # wide | churn | small | nested
    step: str  # load | initial | change
    files: tuple[Path, ...]
    landing: Path  # the folder holding the step's files (small files: the partition tree)
    workdir: Path
    url: str | None = None  # PostgreSQL database of this run
    load: str = "append"  # churn: scd2 | merge
    deletes: str = "ignore"  # churn scd2: invalidate when the file is a full snapshot

    def save(self, path: Path) -> Path:
        data = {
            **asdict(self),
            "files": [str(f) for f in self.files],
            "landing": str(self.landing),
            "workdir": str(self.workdir),
        }
        path.write_text(json.dumps(data, indent=2))
        return path

    @classmethod
    def load_from(cls, path: Path) -> Job:
        data: dict[str, Any] = json.loads(path.read_text())
        data["files"] = tuple(Path(f) for f in data["files"])
        data["landing"] = Path(data["landing"])
        data["workdir"] = Path(data["workdir"])
        return cls(**data)
