"""The command line's tests use the pipeline's project, files and warehouse list."""

from __future__ import annotations

from ..pipeline.conftest import warehouse

__all__ = ["warehouse"]
