"""tidegate for Dagster (``pip install 'tidegate[dagster]'``): see ``docs/orchestration.md``.

>>> from tidegate.dagster import definitions   # doctest: +SKIP
>>> defs = definitions("my_project")            # doctest: +SKIP
"""

try:
    import dagster as _dagster  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("tidegate.dagster needs Dagster: pip install 'tidegate[dagster]'") from exc

from tidegate.integrations.dagster import (
    TidegateProjectComponent,
    TidegateTranslator,
    definitions,
    tidegate_assets,
    tidegate_checks,
    tidegate_schedules,
    tidegate_sensor,
)

__all__ = [
    "TidegateProjectComponent",
    "TidegateTranslator",
    "definitions",
    "tidegate_assets",
    "tidegate_checks",
    "tidegate_schedules",
    "tidegate_sensor",
]
