"""The parameters of the ``certificate`` check (checks/certificate.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_above_zero, check_order, check_port


@dataclass(frozen=True)
class CertificateParams:
    #: the server, e.g. his-web.hospital.local
    host: str = ""
    port: int = 443
    #: WARNING at this many days left or fewer
    days_warn: float = 30.0
    #: CRITICAL at this many days left or fewer
    days_crit: float = 7.0
    #: the name to ask for (SNI) and to verify; default ``host``
    server_name: str = ""
    #: PEM bundle of the CAs to trust (a hospital's private CA); default the system's
    ca_file: str = ""
    #: false: judge only the dates, not trust or name
    verify: bool = True
    timeout: Duration = Duration(10.0)

    def __post_init__(self) -> None:
        check_port("port", self.port, what="a TCP port")
        check_order(self, "days_crit", "days_warn")
        check_above_zero(self, "timeout")
