"""Measured values in records: a check's stored metrics read back.

``metrics_of`` reads a result's stored ``metrics`` JSON (a bad one is an
empty list, never an error); ``metric_value`` picks a value by name.  A value
is written as people read it by :func:`checks._units.format_value` (``41.2 %``,
``117.7 MiB``, ``3.5 h``), the one formatter of checks, records and pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["metric_value", "metrics_of"]


def metrics_of(raw: str | bytes) -> list[dict[str, Any]]:
    """A result's stored ``metrics`` JSON as a list of metric objects (``[]`` if it is not one)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [m for m in doc if isinstance(m, dict)] if isinstance(doc, list) else []


def metric_value(metrics: Sequence[dict[str, Any]], *names: str) -> float | None:
    """The value of the first of ``names`` that ``metrics`` holds with a number; None if none does."""
    for name in names:
        for m in metrics:
            if m.get("name") == name and isinstance(m.get("value"), int | float):
                return float(m["value"])
    return None
