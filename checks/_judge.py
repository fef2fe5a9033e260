"""Judging measured values against thresholds; kept apart from measuring."""

from __future__ import annotations

from checks.result import Status

__all__ = ["above", "below"]


def above(value: float | None, warn: float | None, crit: float | None) -> Status:
    """Bad when high (used %, age, latency): CRITICAL at ``>= crit``, WARNING at ``>= warn``."""
    if value is None:
        return Status.UNKNOWN
    if crit is not None and value >= crit:
        return Status.CRITICAL
    if warn is not None and value >= warn:
        return Status.WARNING
    return Status.OK


def below(value: float | None, warn: float | None, crit: float | None) -> Status:
    """Bad when low (free bytes, days until full): CRITICAL at ``<= crit``, WARNING at ``<= warn``."""
    if value is None:
        return Status.UNKNOWN
    if crit is not None and value <= crit:
        return Status.CRITICAL
    if warn is not None and value <= warn:
        return Status.WARNING
    return Status.OK
