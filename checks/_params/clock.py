"""The parameters of the ``clock`` check (checks/clock.py), a leaf module.

The collector validates fleet files with them (checks.entries through catalogue.params_of)
without importing the check itself; the check imports them from here."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration


@dataclass(frozen=True)
class ClockParams:
    #: NTP server to compare with (name or address); default none: only the collector's clock
    server: str = ""
    port: int = 123
    #: offset at which the result is WARNING
    warn: Duration = Duration(60.0)
    #: offset at which the result is CRITICAL
    crit: Duration = Duration(300.0)
    #: how long to wait for the NTP server's answer
    timeout: Duration = Duration(5.0)
    #: also judge the offset from the collector's clock (when the agent knows it)
    collector: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: expected a UDP port 1-65535 (got {self.port})")
        if self.warn > self.crit:
            raise ValueError(f"warn: must not be above crit ({self.warn:g} s > {self.crit:g} s)")
        if self.timeout <= 0:
            raise ValueError("timeout: expected a duration above 0")
