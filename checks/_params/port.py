"""The parameters of the ``port`` check (checks/port.py), a leaf module.

The collector validates fleet files with them (checks.entries through catalogue.params_of)
without importing the check itself; the check imports them from here."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration


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
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected a TCP port 1-65535 (got {self.port})")
        if self.timeout <= 0:
            raise ValueError("timeout: expected a duration above 0")
        if self.warn > self.crit:
            raise ValueError(f"warn: must not be above crit ({self.warn:g} s > {self.crit:g} s)")
