"""The parameters of the ``uptime`` check (checks/uptime.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration


@dataclass(frozen=True)
class UptimeParams:
    #: an uptime below this is WARNING (0: never)
    min_uptime: Duration = Duration(0.0)
    #: an uptime above this is WARNING, e.g. 90d for missed patch reboots (empty: never)
    max_uptime: Duration | None = None
    #: status of a reboot since the previous run: warning or critical
    reboot_status: str = "warning"
    #: boot-time changes up to this are clock adjustments, not reboots
    tolerance: Duration = Duration(60.0)

    def __post_init__(self) -> None:
        if self.reboot_status not in ("warning", "critical"):
            raise ValueError(f"reboot_status: expected warning or critical (got {self.reboot_status!r})")
        if self.max_uptime is not None and self.max_uptime <= self.min_uptime:
            raise ValueError("max_uptime: must be longer than min_uptime")
