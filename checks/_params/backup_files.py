"""The parameters of the ``backup_files`` check (checks/backup_files.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from checks._cron import CronError, parse_cron
from checks.params import Duration


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: unknown time zone {name!r} (expected e.g. Asia/Shanghai)") from None


@dataclass(frozen=True)
class BackupFilesParams:
    path: str = ""
    pattern: str = "*"
    #: cron of the backup job (5 fields, crontab(5) meaning; ``@daily`` too)
    schedule: str = ""
    #: how long after the scheduled time the file must exist
    grace: Duration = Duration(3600.0)
    #: alternative to ``schedule``: the newest file must be younger than this
    max_age: Duration | None = None
    #: WARNING below this share of the median size of the earlier files
    min_size_ratio: float = 0.5
    #: CRITICAL below this many bytes (the default makes a 0-byte file CRITICAL)
    min_size: int = 1
    #: test completeness where the format allows (gzip, mysqldump, pg_dump, ...)
    verify: bool = True
    #: how many earlier files form the median
    history: int = 7
    #: time zone of ``schedule`` (IANA name); default the machine's local zone
    timezone: str = ""
    #: a file modified more recently than this is still being written
    settle: Duration = Duration(120.0)
    #: seconds before a hung listing (dead network share) is given up
    list_timeout: Duration = Duration(15.0)
    #: seconds one completeness test may take (also bounded by the check's timeout)
    verify_timeout: Duration = Duration(240.0)

    def __post_init__(self) -> None:
        if self.schedule:
            try:
                parse_cron(self.schedule)
            except CronError as exc:
                raise ValueError(f"schedule: {exc}") from None
        if self.schedule and self.max_age is not None:
            raise ValueError("max_age: give schedule or max_age, not both")
        if self.path and not self.schedule and self.max_age is None:
            raise ValueError('schedule: give the backup job\'s cron (e.g. "0 2 * * *") or max_age (e.g. 26h)')
        if self.timezone:
            _zone(self.timezone)
        if not 0 <= self.min_size_ratio <= 1:
            raise ValueError(f"min_size_ratio: expected a ratio from 0 to 1 (got {self.min_size_ratio:g})")
        if self.min_size < 0:
            raise ValueError("min_size: expected a number of bytes, 0 or more")
        if self.history < 1:
            raise ValueError("history: expected at least 1")
        if self.list_timeout <= 0 or self.verify_timeout <= 0:
            raise ValueError("list_timeout: expected more than 0 s")
