"""Mapping and validation: file records to typed target rows, good and quarantined."""

from tidegate.transform.evaluate import Outcome, evaluate

__all__ = ["Outcome", "evaluate"]
