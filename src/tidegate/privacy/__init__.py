"""Personal data: column policies, data subjects, erasure everywhere (docs/privacy.md).

The per-file flow calls ``tidegate.privacy.hooks``; ``tidegate erase`` and ``tidegate
reveal`` are in ``commands``. Nothing is imported here, so that the configuration loader
can use ``checks`` without loading the compute engine.
"""
