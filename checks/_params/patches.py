"""patches' parameters: the age limits and which package manager to ask."""

from __future__ import annotations

from dataclasses import dataclass

from checks._units import DAY
from checks.params import Duration

NAME = "patches"
MANAGERS = ("auto", "apt", "dnf", "yum", "windows")
MAX_LISTED = 50


@dataclass(frozen=True)
class PatchesParams:
    #: a security update pending longer than this is WARNING
    max_security_age: Duration = Duration(30 * DAY)
    #: no update installed for longer than this is WARNING
    max_since_update: Duration = Duration(90 * DAY)
    #: package lists (apt, dnf metadata, Windows Update's last search) older than this are WARNING;
    #: empty: not judged
    max_lists_age: Duration | None = Duration(7 * DAY)
    #: auto, apt, dnf, yum or windows
    manager: str = "auto"
    #: Windows: also list pending updates from Windows Update's local cache (offline search)
    windows_search: bool = True
    #: seconds for each package manager call
    timeout: Duration = Duration(120.0)

    def __post_init__(self) -> None:
        manager = self.manager.strip().lower()
        if manager not in MANAGERS:
            raise ValueError(f"manager: expected one of {', '.join(MANAGERS)} (got {self.manager!r})")
        object.__setattr__(self, "manager", manager)
        for key in ("max_security_age", "max_since_update", "timeout"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be more than 0")


