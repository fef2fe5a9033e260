"""The ``logscan`` check's parameters: they live in the leaf module ``checks/_params/logscan.py``, which the
collector reads without importing this package; this module keeps the old import path."""

from __future__ import annotations

from checks._params.logscan import LINE_SHOWN, MAX_SHOWN, NAME, LogscanParams

__all__ = ["LINE_SHOWN", "LogscanParams", "MAX_SHOWN", "NAME"]
