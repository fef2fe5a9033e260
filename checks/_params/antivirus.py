"""The parameters of the ``antivirus`` check (checks/antivirus.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration

D = 86400.0


@dataclass(frozen=True)
class AntivirusParams:
    #: signatures older than this are WARNING
    max_signature_age: Duration = Duration(3 * D)
    #: Linux: ClamAV's signature database directory
    clamav_db: str = "/var/lib/clamav"
    #: Linux: clamd, the scanning daemon, must be running
    require_clamd: bool = True
    #: Linux: freshclam's log file (its last run is reported; the agent's user needs read access: group adm)
    freshclam_log: str = "/var/log/clamav/freshclam.log"
    #: Windows: seconds for the PowerShell query
    timeout: Duration = Duration(60.0)

    def __post_init__(self) -> None:
        if self.max_signature_age <= 0:
            raise ValueError("max_signature_age: must be more than 0")
        if self.timeout <= 0:
            raise ValueError("timeout: must be more than 0")
