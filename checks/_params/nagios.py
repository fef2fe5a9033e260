"""The parameters of the ``nagios`` check (checks/nagios.py), a leaf module."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from checks.params import Duration, check_above_zero


@dataclass(frozen=True)
class NagiosParams:
    #: the plugin and its arguments, e.g. ["/usr/lib/nagios/plugins/check_load", "-w", "5,4,3", "-c", "9,8,7"]
    command: tuple[str, ...] = ()
    #: the plugin is killed (and the result is UNKNOWN) after this long
    timeout: Duration = Duration(60.0)
    #: the result's item; default the plugin's file name
    item: str = ""
    #: instead of ``command``: one string split like a POSIX shell would split it (quotes kept
    #: together), but never run by a shell. For the command line, where ``command``'s commas
    #: separate arguments: --param command_line='check_load -w 5,4,3 -c 9,8,7'
    command_line: str = ""

    def __post_init__(self) -> None:
        check_above_zero(self, "timeout")
        if self.command and self.command_line:
            raise ValueError("command_line: give either command (a list) or command_line, not both")
        if self.command_line:
            try:
                shlex.split(self.command_line)
            except ValueError as exc:
                raise ValueError(f"command_line: {exc}") from None

    def argv(self) -> list[str]:
        return shlex.split(self.command_line) if self.command_line else list(self.command)
