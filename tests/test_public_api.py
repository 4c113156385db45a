"""The public API is the package's ``__all__``; changing it is a decision, not an accident."""

from __future__ import annotations

from pathlib import Path

import tidegate


def test_public_api_is_pinned() -> None:
    assert tidegate.__all__ == [
        "ConfigError",
        "ConnectionFailed",
        "FileError",
        "TidegateError",
        "TransientError",
        "WarehouseError",
        "__version__",
        "load_project",
        "run",
    ]


def test_run_a_project_from_python(tmp_path: Path) -> None:
    from tidegate.scaffold import example

    root = tmp_path / "leads"
    example(root)
    config = root / "tidegate.yml"
    config.write_text(config.read_text().replace("settle_seconds: 1", "settle_seconds: 0"))
    result = tidegate.run(root)
    assert result.ok
    assert sum(f.rows_read for f in result.files) == 127
