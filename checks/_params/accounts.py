"""The parameters of the ``accounts`` check (checks/accounts.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration


@dataclass(frozen=True)
class AccountsParams:
    #: accounts allowed as administrators besides the built-in ones: Linux names with UID 0,
    #: Windows members of Administrators (e.g. ``HIS-DB-01\\vendor-maint``, ``HOSPITAL\\IT Admins``)
    admins: tuple[str, ...] = ()
    #: account names (globs) whose passwords may never expire, e.g. service accounts
    never_expire_ok: tuple[str, ...] = ()
    #: Windows: seconds for the PowerShell query
    timeout: Duration = Duration(60.0)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout: must be more than 0")
