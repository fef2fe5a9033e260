"""The parameters of the ``clock`` check (checks/clock.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_above_zero, check_order, check_port


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
        check_port("port", self.port, what="a UDP port")
        check_order(self, "warn", "crit", " s")
        check_above_zero(self, "timeout")
