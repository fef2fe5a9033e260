"""The ``patches`` check's parameters: they live in the leaf module ``checks/_params/patches.py``, which the
collector reads without importing this package; this module keeps the old import path."""

from __future__ import annotations

from checks._params.patches import MANAGERS, MAX_LISTED, NAME, PatchesParams

__all__ = ["MANAGERS", "MAX_LISTED", "NAME", "PatchesParams"]
