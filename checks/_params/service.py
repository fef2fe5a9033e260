"""The parameters of the ``service`` check (checks/service.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceParams:
    #: services that must run: systemd unit names, or Windows service names (not display names)
    names: tuple[str, ...] = ()
    #: Windows: also every service whose start type is Automatic
    automatic: bool = False
    #: with automatic: glob patterns of service or display names to leave out
    exclude: tuple[str, ...] = ()
    #: with automatic: also judge "Automatic (Delayed Start)" services
    include_delayed: bool = False
    #: with automatic: also judge trigger-start services
    include_trigger: bool = False
    #: seconds for each systemctl call
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if any(not n.strip() for n in self.names):
            raise ValueError("names: an empty service name")
        if self.timeout <= 0:
            raise ValueError("timeout: expected more than 0 seconds")
