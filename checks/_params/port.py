"""The parameters of the ``port`` check (checks/port.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_above_zero, check_order, check_port


@dataclass(frozen=True)
class PortParams:
    #: name or address of the server, e.g. his-db-01 or 10.1.2.3
    host: str = ""
    #: TCP port, e.g. 1433 (SQL Server), 1521 (Oracle), 3306 (MySQL), 443
    port: int = 0
    #: give up on one connection attempt after this long (CRITICAL "no answer")
    timeout: Duration = Duration(10.0)
    #: handshake time at which the result is WARNING
    warn: Duration = Duration(1.0)
    #: handshake time at which the result is CRITICAL
    crit: Duration = Duration(3.0)

    def __post_init__(self) -> None:
        check_port("port", self.port, what="a TCP port", unset_ok=True)  # 0: not given (UNKNOWN)
        check_above_zero(self, "timeout")
        check_order(self, "warn", "crit", " s")
