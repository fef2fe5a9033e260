"""The ``restore_drill`` check's parameters: they live in the leaf module ``checks/_params/restore_drill.py``, which the
collector reads without importing this package; this module keeps the old import path."""

from __future__ import annotations

from checks._params.restore_drill import DEFAULT_PORTS, ENGINES, NAME, PREFIX, RestoreDrillParams

__all__ = ["DEFAULT_PORTS", "ENGINES", "NAME", "PREFIX", "RestoreDrillParams"]
