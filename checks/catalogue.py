"""The check catalogue: check name → implementation.

Registration is explicit (no directory scanning, no entry points) so a
frozen Windows agent finds every check.  The name is the module name, the
config's ``check:`` value and the catalogue key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checks import backup_files, db_backup, disk, offsite_copy, system
from checks.context import CheckContext
from checks.result import Result

__all__ = ["CATALOGUE", "CheckSpec", "UnknownCheck", "get_check"]


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


CATALOGUE: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (
        CheckSpec(disk.NAME, disk.DiskParams, disk.run,
                  "used space of every real mounted filesystem", timeout_s=30.0),
        CheckSpec(db_backup.NAME, db_backup.DbBackupParams, db_backup.run,
                  "database backups judged from the engine's own catalog (msdb, RMAN, pg_stat_archiver, MEB)",
                  timeout_s=120.0),
        CheckSpec(system.NAME, system.SystemParams, system.run,
                  "CPU (averaged since the last run), memory, swap and load", timeout_s=30.0),
        CheckSpec(backup_files.NAME, backup_files.BackupFilesParams, backup_files.run,
                  "newest backup file against its schedule: missed, stale, too small, incomplete",
                  timeout_s=300.0),
        CheckSpec(offsite_copy.NAME, offsite_copy.OffsiteCopyParams, offsite_copy.run,
                  "the newest local backup is on the off-site server over SFTP, same size, in time",
                  timeout_s=60.0),
    )
}


def get_check(name: str) -> CheckSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownCheck(name) from None
