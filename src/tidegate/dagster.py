"""tidegate for Dagster (``pip install 'tidegate[dagster]'``): see ``docs/orchestration.md``.

>>> from tidegate.dagster import definitions   # doctest: +SKIP
>>> defs = definitions("my_project")            # doctest: +SKIP
"""

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
