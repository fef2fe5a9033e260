"""Measured values in records: a check's stored metrics read back, and values written as people read them.

``metrics_of`` reads a result's stored ``metrics`` JSON (a bad one is an
empty list, never an error); ``metric_value`` picks a value by name;
``format_measure`` writes a value with its unit (``41.2 %``, ``117.7 MiB``,
``3.5 h``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["format_bytes", "format_measure", "metric_value", "metrics_of"]


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def format_bytes(v: float) -> str:
    """Bytes in KiB/MiB/GiB/TiB: ``117.7 MiB``."""
    size = float(v)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{_num(round(size, 1))} {unit}"
        size /= 1024
    return f"{v} B"  # pragma: no cover - the loop always returns


def _seconds(v: float) -> str:
    s = abs(v)
    if s < 120:
        return f"{_num(round(v, 1))} s"
    if s < 7200:
        return f"{_num(round(v / 60, 1))} min"
    if s < 2 * 86400:
        return f"{_num(round(v / 3600, 1))} h"
    return f"{_num(round(v / 86400, 1))} d"


def format_measure(value: float | None, unit: str) -> str:
    """A measured value as people read it: ``41.2 %``, ``117.7 MiB``, ``3.5 h``."""
    if value is None:
        return ""
    if unit == "%":
        return f"{_num(round(value, 1))} %"
    if unit == "B":
        return format_bytes(value)
    if unit == "B/s":
        return format_bytes(value) + "/s"
    if unit == "s":
        return _seconds(value)
    if unit in ("", "1", "count", "c"):
        return _num(round(value, 3))
    return f"{_num(round(value, 3))} {unit}"


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
