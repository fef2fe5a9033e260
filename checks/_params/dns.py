"""The parameters of the ``dns`` check (checks/dns.py), a leaf module."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from checks.params import Duration, check_above_zero, check_order, check_port

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
        check_port("port", self.port, what="a UDP port")
        check_order(self, "warn", "crit", " s")
        check_above_zero(self, "timeout")
