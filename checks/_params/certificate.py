"""The parameters of the ``certificate`` check (checks/certificate.py), a leaf module.

The collector validates fleet files with them (checks.entries through catalogue.params_of)
without importing the check itself; the check imports them from here."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration


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
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: expected a TCP port 1-65535 (got {self.port})")
        if self.days_crit > self.days_warn:
            raise ValueError(
                f"days_crit: must not be above days_warn ({self.days_crit:g} > {self.days_warn:g})")
        if self.timeout <= 0:
            raise ValueError("timeout: expected a duration above 0")
