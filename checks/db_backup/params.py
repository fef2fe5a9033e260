"""The ``db_backup`` check's parameters: they live in the leaf module ``checks/_params/db_backup.py``, which the
collector reads without importing this package; this module keeps the old import path."""

from __future__ import annotations

from checks._params.db_backup import ENGINE_ALIASES, ENGINES, NAME, OVERRIDE_KEYS, DbBackupParams, Query

__all__ = ["DbBackupParams", "ENGINES", "ENGINE_ALIASES", "NAME", "OVERRIDE_KEYS", "Query"]
