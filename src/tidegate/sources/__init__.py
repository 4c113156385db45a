"""What brings files into landing besides people: HTTP APIs (``api:`` sources)."""

from __future__ import annotations

from tidegate.sources.api import PullResult, exit_code, pull, pull_with

__all__ = ["PullResult", "exit_code", "pull", "pull_with"]
