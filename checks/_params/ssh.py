"""The parameters of the ``ssh`` check (checks/ssh.py), a leaf module."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.params import Duration, check_above_zero, check_login, check_order, check_percent, check_port

PROBES = ("df", "uptime", "command")


@dataclass(frozen=True)
class SshParams:
    #: the host to connect to (address or name)
    target: str = ""
    #: the SSH port
    port: int = 22
    #: the account to log in as (an unprivileged one is enough)
    user: str = ""
    #: private key (OpenSSH format); its passphrase, if any, in ``passphrase_file``
    key_file: str = ""
    #: a file holding the password (first line)
    password_file: str = ""
    #: a file holding the key's passphrase, when the key is encrypted
    passphrase_file: str = ""
    #: the only host keys trusted; an unknown key is never added
    known_hosts: str = ""
    #: seconds for each SSH step: TCP connect, banner, authentication
    connect_timeout: Duration = Duration(10.0)
    #: what to run: df, uptime, command; default df and uptime, plus command when ``command`` is set
    probes: tuple[str, ...] = ()
    #: used % of a filesystem at or above which it is WARNING (as the disk check)
    warn: float = 80.0
    #: used % at or above which it is CRITICAL
    crit: float = 90.0
    #: only these mount points (each must be mounted); default every real filesystem
    mounts: tuple[str, ...] = ()
    #: a Nagios-style command as an argument list; each argument is quoted for the remote shell
    command: tuple[str, ...] = ()
    #: the item is ``command:<command_name>``; default the command's file name
    command_name: str = ""
    #: seconds each remote command may take (df on a hung NFS mount, a slow plugin)
    command_timeout: Duration = Duration(30.0)
    #: up for less than this → WARNING "rebooted recently"; default no judgement
    min_uptime: Duration | None = None

    def __post_init__(self) -> None:
        check_port("port", self.port)
        check_percent(self, "warn", "crit")
        check_order(self, "warn", "crit")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown:
            raise ValueError(f"probes: unknown probe {unknown[0]!r} (known: {', '.join(PROBES)})")
        if "command" in self.probes and not self.command:
            raise ValueError("command: required when probes lists command (an argument list)")
        if self.command and self.probes and "command" not in self.probes:
            raise ValueError("probes: command is set but probes leaves it out; add command to probes")
        if self.command and not self.command[0]:
            raise ValueError("command: the first argument (the program) must not be empty")
        if self.command_name and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", self.command_name):
            raise ValueError("command_name: expected 1-64 letters, digits, '.', '_' or '-'")
        check_above_zero(self, "connect_timeout", "command_timeout", expected="expected more than 0 s")
        if self.target:
            check_login(self, "user", "known_hosts")

    @property
    def enabled(self) -> tuple[str, ...]:
        if self.probes:
            return tuple(dict.fromkeys(self.probes))
        return ("df", "uptime", "command") if self.command else ("df", "uptime")

    @property
    def command_item(self) -> str:
        name = self.command_name or (self.command[0].rstrip("/").rsplit("/", 1)[-1] if self.command else "")
        return f"command:{name}"
