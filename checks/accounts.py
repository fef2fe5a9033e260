"""accounts: local login accounts that let someone in too easily.

Lists account names, never a password hash: the hash field is only looked at
to tell "empty", "locked" and "set" apart, and never leaves this module.

Linux reads ``/etc/passwd`` and ``/etc/shadow``.  The shadow file is readable
by root (and on Debian/Ubuntu by the group ``shadow``: add the agent's user to
it, ``usermod -aG shadow wardround``; RHEL's ``/etc/shadow`` is mode 0000, so
there only root reads it).  Without it the items that need it are UNKNOWN with
the reason.  Windows reads ``Get-LocalUser`` and the members of the local
Administrators group (SID ``S-1-5-32-544``, so the group's translated name does
not matter), through Windows PowerShell; no administrator rights are needed.

Items, one result each (names in the summary and in ``details.accounts``):

====================== ======== ============================================
item                   status   meaning
====================== ======== ============================================
empty_password         OK       every account has a password or is locked
                       CRITICAL Linux: an empty password field (anyone may
                                log in as it without a password); Windows:
                                an enabled account whose password is not
                                required (it may be empty)
administrators         OK       only the built-in administrators (Linux:
                                UID 0 is root alone; Windows: the built-in
                                Administrator, Domain Admins) and ``admins``
                       CRITICAL Linux: another account with UID 0
                       WARNING  Windows: other members of Administrators
guest                  OK       Windows: the Guest account is disabled
                       CRITICAL Windows: the Guest account is enabled
password_never_expires OK       every usable password expires
                       WARNING  an account that can log in with a password
                                whose password never expires (Linux: max
                                days empty or 99999; Windows: enabled, no
                                expiry date), except ``never_expire_ok``
(any)                  UNKNOWN  ``/etc/shadow`` unreadable (permission
                                denied: the reason is given), PowerShell
                                failed, or an unsupported system
====================== ======== ============================================

Metrics: ``accounts`` (count of accounts in the item's finding) per item;
``login_accounts`` (count of accounts that can log in with a password).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from checks import _windows
from checks._params.accounts import AccountsParams
from checks.context import CheckContext
from checks.messages import fit_summary, listed, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "accounts"
NEVER = 99999  # shadow's conventional "never expires"
NOLOGIN_SHELLS = ("nologin", "false", "sync", "shutdown", "halt")
MAX_NAMES = 100


STANDARDS = {
    "empty_password": say("accounts.standard.empty_password"),
    "administrators": say("accounts.standard.administrators"),
    "guest": say("accounts.standard.guest"),
    "password_never_expires": say("accounts.standard.password_never_expires"),
}


def _result(item: str, status: Status, summary: str, names: list[str], details: dict[str, Any],
            extra: tuple[Metric, ...] = ()) -> Result:
    return Result(check=NAME, item=item, status=status, summary=fit_summary(summary), standard=STANDARDS[item],
                  metrics=(Metric("accounts", float(len(names)), "count", min=0), *extra),
                  details={**details, "accounts": names[:MAX_NAMES]})


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


# --------------------------------------------------------------------------- Linux

@dataclass(frozen=True)
class LinuxAccount:
    name: str
    uid: int
    shell: str
    password: str      # "empty", "locked", "set" (never the hash itself)
    max_days: int | None  # None: empty field


def _password_kind(field: str) -> str:
    if field == "":
        return "empty"
    if field[0] in "!*" or field == "x":
        return "locked"
    return "set"


def read_linux_accounts(root: str = "/") -> tuple[list[LinuxAccount], str]:
    """Accounts from passwd joined with shadow; the second value says why shadow could not be read."""
    with open(os.path.join(root, "etc/passwd"), encoding="utf-8", errors="replace") as fh:
        passwd = [line.rstrip("\n").split(":") for line in fh if line.strip() and not line.startswith("#")]
    shadow: dict[str, list[str]] = {}
    shadow_error = ""
    path = os.path.join(root, "etc/shadow")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 2:
                    shadow[parts[0]] = parts
    except PermissionError:
        shadow_error = say("accounts.shadow_denied", path="/etc/shadow", group="shadow")
    except OSError as exc:
        shadow_error = say("accounts.unreadable", path="/etc/shadow", error=exc.strerror or str(exc))
    out: list[LinuxAccount] = []
    for parts in passwd:
        if len(parts) < 7 or not parts[2].lstrip("-").isdigit():
            continue
        name, pw_field, uid, shell = parts[0], parts[1], int(parts[2]), parts[6]
        entry = shadow.get(name)
        max_days: int | None = None
        if pw_field == "x" and entry is not None:
            kind = _password_kind(entry[1])
            if len(entry) > 4 and entry[4].strip().isdigit():
                max_days = int(entry[4])
        elif pw_field == "x":
            kind = "locked" if not shadow_error else "unknown"
        else:
            kind = _password_kind(pw_field)
        out.append(LinuxAccount(name=name, uid=uid, shell=shell, password=kind, max_days=max_days))
    return out, shadow_error


def _can_log_in(a: LinuxAccount) -> bool:
    return not os.path.basename(a.shell or "/bin/sh").endswith(NOLOGIN_SHELLS)


def judge_linux(accounts: list[LinuxAccount], shadow_error: str, params: AccountsParams) -> list[Result]:
    results: list[Result] = []
    base = {"source": "/etc/passwd, /etc/shadow"}
    usable = [a for a in accounts if a.password == "set"]
    login = Metric("login_accounts", float(len([a for a in usable if _can_log_in(a)])), "count", min=0)
    if shadow_error:
        for item in ("empty_password", "password_never_expires"):
            results.append(Result(check=NAME, item=item, status=Status.UNKNOWN, standard=STANDARDS[item],
                                  summary=shadow_error, details={**base, "error": str.__str__(shadow_error)}))
    else:
        empty = [a.name for a in accounts if a.password == "empty"]
        if empty:
            shells = {a.name: a.shell for a in accounts if a.password == "empty"}
            results.append(_result("empty_password", Status.CRITICAL,
                                   say("accounts.empty", n=len(empty), names=listed(empty)), empty,
                                   {**base, "shells": shells}, (login,)))
        else:
            results.append(_result("empty_password", Status.OK, say("accounts.no_empty", n=len(accounts)), [],
                                   base, (login,)))
        never = [a.name for a in usable if (a.max_days is None or a.max_days >= NEVER)
                 and not _matches(a.name, params.never_expire_ok)]
        if never:
            results.append(_result("password_never_expires", Status.WARNING,
                                   say("accounts.never_expires", n=len(never), never=NEVER, names=listed(never)),
                                   never, base))
        else:
            results.append(_result("password_never_expires", Status.OK, say("accounts.all_expire", n=len(usable)),
                                   [], base))
    extra = [a.name for a in accounts if a.uid == 0 and a.name != "root" and a.name not in params.admins]
    allowed = [a.name for a in accounts if a.uid == 0 and a.name != "root" and a.name in params.admins]
    if extra:
        results.append(_result("administrators", Status.CRITICAL,
                               say("accounts.uid0", n=len(extra), names=listed(extra)), extra,
                               {**base, "allowed": allowed}))
    else:
        results.append(_result("administrators", Status.OK,
                               say("accounts.only_root_allowed", names=", ".join(allowed)) if allowed
                               else say("accounts.only_root"), [], {**base, "allowed": allowed}))
    return results


# --------------------------------------------------------------------------- Windows

#: Local users and the members of the local Administrators group (by SID; Get-LocalGroupMember fails
#: on groups with orphaned SIDs, then the ADSI WinNT provider lists them).  Sources: learn.microsoft.com
#: Get-LocalUser, Get-LocalGroupMember (Microsoft.PowerShell.LocalAccounts, Windows PowerShell 5.1).
WINDOWS_SCRIPT = r"""
$users = @(Get-LocalUser | Select-Object Name, Enabled, @{n='SID';e={$_.SID.Value}}, PasswordRequired,
           PasswordExpires, PasswordLastSet, LastLogon, @{n='PrincipalSource';e={"$($_.PrincipalSource)"}})
$admins = $null; $adminsError = $null
try { $admins = @(Get-LocalGroupMember -SID 'S-1-5-32-544' | Select-Object Name,
        @{n='ObjectClass';e={"$($_.ObjectClass)"}}, @{n='PrincipalSource';e={"$($_.PrincipalSource)"}},
        @{n='SID';e={$_.SID.Value}}) }
catch { $adminsError = $_.Exception.Message
        try { $g = [ADSI]'WinNT://./Administrators,group'
              $admins = @($g.psbase.Invoke('Members') | ForEach-Object {
                $p = $_.GetType().InvokeMember('ADsPath', 'GetProperty', $null, $_, $null)
                [pscustomobject]@{ Name = ($p -replace '^WinNT://', '' -replace '/', '\');
                                   ObjectClass = $_.GetType().InvokeMember('Class', 'GetProperty', $null, $_, $null);
                                   PrincipalSource = $null; SID = $null } }) } catch { } }
[pscustomobject]@{ Users = $users; Administrators = $admins; AdministratorsError = $adminsError } |
  ConvertTo-Json -Depth 4 -Compress
"""


def _rid(sid: Any) -> int | None:
    try:
        return int(str(sid).rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def judge_windows(data: Any, params: AccountsParams) -> list[Result]:
    if not isinstance(data, dict):
        return [Result(check=NAME, item="", status=Status.UNKNOWN, summary=say("accounts.no_object"))]
    users = [u for u in _windows.as_list(data.get("Users")) if isinstance(u, dict)]
    base = {"source": "Get-LocalUser, Get-LocalGroupMember"}
    enabled = [u for u in users if u.get("Enabled") is True]
    results: list[Result] = []
    no_pw = [str(u.get("Name")) for u in enabled if u.get("PasswordRequired") is False]
    if no_pw:
        results.append(_result("empty_password", Status.CRITICAL,
                               say("accounts.not_required", n=len(no_pw), names=listed(no_pw)), no_pw, base))
    else:
        results.append(_result("empty_password", Status.OK, say("accounts.all_required", n=len(enabled)), [],
                               base))
    guests = [u for u in users if _rid(u.get("SID")) == 501]
    if guests:
        on = [str(u.get("Name")) for u in guests if u.get("Enabled") is True]
        results.append(_result("guest", Status.CRITICAL if on else Status.OK,
                               say("accounts.guest_enabled", name=on[0]) if on else
                               say("accounts.guest_disabled", name=str(guests[0].get("Name"))), on, base))
    never = [str(u.get("Name")) for u in enabled
             if u.get("PasswordExpires") in (None, "") and not _matches(str(u.get("Name")), params.never_expire_ok)]
    if never:
        results.append(_result("password_never_expires", Status.WARNING,
                               say("accounts.never_expires_windows", n=len(never), names=listed(never)), never,
                               base))
    else:
        results.append(_result("password_never_expires", Status.OK, say("accounts.all_expire_windows"), [], base))
    results.append(_judge_admins(data, params, base))
    return results


def _judge_admins(data: dict[str, Any], params: AccountsParams, base: dict[str, Any]) -> Result:
    members = [m for m in _windows.as_list(data.get("Administrators")) if isinstance(m, dict)]
    if not members and data.get("AdministratorsError"):
        return Result(check=NAME, item="administrators", status=Status.UNKNOWN, standard=STANDARDS["administrators"],
                      summary=say("accounts.admins_unknown", error=str(data["AdministratorsError"])[:300]),
                      details=base)
    allowed = {a.lower() for a in params.admins}
    extra: list[str] = []
    builtin: list[str] = []
    for m in members:
        name = str(m.get("Name") or "?")
        rid = _rid(m.get("SID"))
        short = name.rsplit("\\", 1)[-1].lower()
        if rid in (500, 512) or name.lower() in allowed or short in allowed:
            builtin.append(name)
        else:
            extra.append(name)
    details = {**base, "members": [str(m.get("Name")) for m in members], "accepted": builtin}
    if extra:
        return _result("administrators", Status.WARNING,
                       say("accounts.extra_admins", n=len(extra), names=listed(extra)), extra, details)
    return _result("administrators", Status.OK,
                   say("accounts.admins", names=listed(builtin)) if builtin else say("accounts.admins_none"), [],
                   details)


# --------------------------------------------------------------------------- run

def run(params: AccountsParams, ctx: CheckContext, *,
        powershell: Callable[[str, float], Any] = _windows.powershell_json,
        root: str = "/",
        platform: str = sys.platform) -> list[Result]:
    if platform == "win32":
        try:
            data = powershell(WINDOWS_SCRIPT, params.timeout)
        except _windows.WindowsError_ as exc:
            return [Result(check=NAME, item="", status=Status.UNKNOWN,
                           summary=say("accounts.windows_unknown", error=exc.message))]
        return judge_windows(data, params)
    if platform.startswith("linux"):
        try:
            accounts, shadow_error = read_linux_accounts(root)
        except OSError as exc:
            return [Result(check=NAME, item="", status=Status.UNKNOWN,
                           summary=say("accounts.unreadable", path="/etc/passwd", error=exc.strerror or str(exc)))]
        return judge_linux(accounts, shadow_error, params)
    return [Result(check=NAME, item="", status=Status.UNKNOWN,
                   summary=say("accounts.unsupported", platform=platform))]
