"""The parameters of the ``offsite_copy`` check (checks/offsite_copy.py), a leaf module.

The collector validates fleet files with them (checks.entries through catalogue.params_of)
without importing the check itself; the check imports them from here."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration


@dataclass(frozen=True)
class OffsiteCopyParams:
    local_path: str = ""
    pattern: str = "*"
    remote_host: str = ""
    remote_port: int = 22
    remote_user: str = ""
    #: the directory on the off-site server that mirrors ``local_path``
    remote_path: str = ""
    #: private key (OpenSSH format); its passphrase, if any, in ``passphrase_file``
    key_file: str = ""
    #: a file holding the password (first line)
    password_file: str = ""
    passphrase_file: str = ""
    #: the only host keys trusted; an unknown key is never added
    known_hosts: str = ""
    #: how long after the local file was last modified the copy must be complete
    max_delay: Duration = Duration(7200.0)
    #: seconds for each SSH step: TCP connect, banner, auth, each SFTP request
    connect_timeout: Duration = Duration(10.0)
    #: seconds before a hung local listing (dead network share) is given up
    list_timeout: Duration = Duration(15.0)

    def __post_init__(self) -> None:
        if self.local_path:
            for key in ("remote_host", "remote_user", "remote_path", "known_hosts"):
                if not getattr(self, key):
                    raise ValueError(f"{key}: required")
            if not self.key_file and not self.password_file:
                raise ValueError("key_file: give key_file or password_file")
        if not 0 < self.remote_port < 65536:
            raise ValueError(f"remote_port: expected 1-65535 (got {self.remote_port})")
        if self.connect_timeout <= 0:
            raise ValueError("connect_timeout: expected more than 0 s")
