"""The check catalogue: check name → implementation.

Registration is explicit (no directory scanning, no entry points) so a
frozen Windows agent finds every check.  The name is the module name, the
config's ``check:`` value and the catalogue key.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from checks.context import CheckContext
from checks.result import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BACKUP_CHECKS", "CATALOGUE", "CheckSpec", "UnknownCheck", "default_timeout", "get_check", "params_of"]


@dataclass(frozen=True)
class CheckSpec:
    """What the agent needs to know to run a check."""

    name: str
    params: type
    run: Callable[[Any, CheckContext], list[Result]]
    summary: str
    timeout_s: float = 30.0


class UnknownCheck(KeyError):
    """A check name that is not in the catalogue."""

    def __str__(self) -> str:
        return f"unknown check {self.args[0]!r} (known: {', '.join(sorted(CATALOGUE))})"


@dataclass(frozen=True)
class _Entry:
    params: str  # the parameters dataclass: checks/_params/<name>.py, imported back by checks/<name>
    summary: str
    timeout_s: float
    #: a backup check: each item is one backup (its results say whether it was taken, with
    #: ``age_seconds``/``size_bytes``).  The collector opens tickets for them after one bad
    #: result, exports their age, counts them in the annual backup rate and shows them as
    #: backup evidence on patrol records (:data:`BACKUP_CHECKS`).
    backup: bool = False


class _Catalogue(Mapping[str, CheckSpec]):
    """Imports a check's module only when the check is first asked for.

    An agent that runs disk and system never loads pyodbc's or paramiko's
    helpers (measured: about 4.5 MB of RSS per agent).  A frozen Windows build
    must therefore collect the ``checks`` submodules explicitly
    (PyInstaller: ``--collect-submodules checks``).
    """

    def __init__(self, entries: dict[str, _Entry]):
        self._entries = entries
        self._loaded: dict[str, CheckSpec] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> CheckSpec:
        spec = self._loaded.get(name)
        if spec is None:
            entry = self._entries[name]  # KeyError for an unknown name
            with self._lock:
                module = importlib.import_module(f"checks.{name}")
                spec = CheckSpec(name, getattr(module, entry.params), module.run,
                                 entry.summary, entry.timeout_s)
                self._loaded[name] = spec
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


_ENTRIES = {
    "disk": _Entry("DiskParams", "used space, free inodes and days until full of each real filesystem", 30.0),
    "system": _Entry("SystemParams", "CPU (averaged since the last run), memory, swap and load", 30.0),
    "uptime": _Entry("UptimeParams", "uptime, and a reboot since the previous run with old and new boot time",
                     10.0),
    "process": _Entry("ProcessParams", "named processes running (by name or command line), count and memory",
                      30.0),
    "service": _Entry(
        "ServiceParams", "named services running: systemd units, Windows services (or all automatic)", 60.0),
    "logscan": _Entry(
        "LogscanParams", "new log lines matching patterns (survives rotation); new Windows events", 60.0),
    "db_backup": _Entry(
        "DbBackupParams",
        "database backups judged from the engine's own catalog (msdb, RMAN, pg_stat_archiver, MEB)", 120.0,
        backup=True),
    "backup_files": _Entry(
        "BackupFilesParams", "newest backup file against its schedule: missed, stale, too small, incomplete",
        300.0, backup=True),
    "offsite_copy": _Entry(
        "OffsiteCopyParams", "the newest local backup is on the off-site server over SFTP, same size, in time",
        60.0, backup=True),
    "nagios": _Entry(
        "NagiosParams", "any Nagios-compatible plugin: exit code, summary, perfdata as metrics", 120.0),
    "port": _Entry("PortParams", "TCP connect to host:port, timed: refused, filtered, slow", 30.0),
    "tcp": _Entry("TcpParams", "the port check under its network name: timed TCP connect", 30.0),
    "ssh": _Entry("SshParams", "df, uptime and a Nagios-style command on a host without an agent, over SSH",
                  120.0),
    "certificate": _Entry(
        "CertificateParams", "days until a TLS certificate expires; expired, untrusted, wrong name", 30.0),
    "http": _Entry("HttpParams", "HTTP(S) status, latency, body text and certificate days left", 30.0),
    "clock": _Entry(
        "ClockParams", "clock offset from an NTP server (SNTP) and from the collector's clock", 30.0),
    "dns": _Entry("DnsParams", "resolve a name (system resolver or a given server), expected addresses", 30.0),
    "ping": _Entry("PingParams", "loss, RTT and jitter to a target; down after silent runs; trace as evidence",
                   90.0),
    "traceroute": _Entry("TracerouteParams", "hop list to a target against its baseline path: path changes",
                         150.0),
    "patches": _Entry(
        "PatchesParams", "pending security updates and since when, last update installed, pending reboot "
        "(apt, dnf/yum, Windows); read-only", 300.0),
    "antivirus": _Entry(
        "AntivirusParams", "antivirus installed, running, real-time on, signatures current (Defender, Security "
        "Center, ClamAV)", 90.0),
    "accounts": _Entry(
        "AccountsParams", "local accounts: empty passwords, extra UID 0 / administrators, enabled Guest, "
        "passwords that never expire (names, never a hash)", 60.0),
    "db_accounts": _Entry(
        "DbAccountsParams", "the database's own password protection: sa, CHECK_POLICY, blank passwords, trust "
        "lines, roles without a password, anonymous and remote root accounts", 60.0),
    "restore_drill": _Entry(
        "RestoreDrillParams", "restore the newest backup into a throwaway database on a scratch server, probe "
        "it, drop it: duration and size", 3600.0),
}
CATALOGUE: Mapping[str, CheckSpec] = _Catalogue(_ENTRIES)
#: The backup checks (see ``_Entry.backup``).  ``restore_drill`` is not one: it proves that a
#: backup restores, weekly, and reports no backup's age; its place on records is its own.
BACKUP_CHECKS: frozenset[str] = frozenset(name for name, entry in _ENTRIES.items() if entry.backup)


def get_check(name: str) -> CheckSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownCheck(name) from None


def params_of(name: str) -> type:
    """The parameters dataclass of check ``name``, without importing the check.

    It lives in the leaf module ``checks/_params/<name>.py`` (the check imports it from there),
    so the collector validates a fleet file naming every check and imports no check module
    (tests/test_layers.py).
    """
    entry = _ENTRIES.get(name) if isinstance(name, str) else None
    if entry is None:
        raise UnknownCheck(name)
    params: type = getattr(importlib.import_module(f"checks._params.{name}"), entry.params)
    return params


def default_timeout(name: str) -> float:
    """The run time limit of check ``name`` when its entry gives no ``timeout``."""
    try:
        return _ENTRIES[name].timeout_s
    except KeyError:
        raise UnknownCheck(name) from None
