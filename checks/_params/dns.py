"""The parameters of the ``dns`` check (checks/dns.py), a leaf module.

The collector validates fleet files with them (checks.entries through catalogue.params_of)
without importing the check itself; the check imports them from here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from checks.params import Duration

_TYPES = {"A": 1, "AAAA": 28}


@dataclass(frozen=True)
class DnsParams:
    #: the name to resolve, e.g. his-db.hospital.local
    name: str = ""
    #: the addresses it must resolve to (all of them, no others); default: any
    expect: tuple[str, ...] = ()
    #: A (IPv4) or AAAA (IPv6)
    record: str = "A"
    #: ask this DNS server directly (address or name) instead of the system resolver
    server: str = ""
    port: int = 53
    timeout: Duration = Duration(5.0)
    #: resolve time at which the result is WARNING
    warn: Duration = Duration(1.0)
    #: resolve time at which the result is CRITICAL
    crit: Duration = Duration(3.0)

    def __post_init__(self) -> None:
        if self.record.upper() not in _TYPES:
            raise ValueError(f"record: expected A or AAAA (got {self.record!r})")
        for a in self.expect:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ValueError(f"expect: {a!r} is not an IP address") from None
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: expected a UDP port 1-65535 (got {self.port})")
        if self.warn > self.crit:
            raise ValueError(f"warn: must not be above crit ({self.warn:g} s > {self.crit:g} s)")
        if self.timeout <= 0:
            raise ValueError("timeout: expected a duration above 0")
