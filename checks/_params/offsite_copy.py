"""The parameters of the ``offsite_copy`` check (checks/offsite_copy.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_above_zero, check_login, check_port


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
            check_login(self, "remote_host", "remote_user", "remote_path", "known_hosts")
        check_port("remote_port", self.remote_port)
        check_above_zero(self, "connect_timeout", expected="expected more than 0 s")
