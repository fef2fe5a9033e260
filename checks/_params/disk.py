"""The parameters of the ``disk`` check (checks/disk.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_order, check_percent


@dataclass(frozen=True)
class DiskParams:
    #: used % at or above which the filesystem is WARNING
    warn: float = 80.0
    #: used % at or above which the filesystem is CRITICAL
    crit: float = 90.0
    #: forecast days until full at or below which the filesystem is WARNING
    days_warn: float = 30.0
    #: forecast days until full at or below which the filesystem is CRITICAL
    days_crit: float = 7.0
    #: free inodes % at or below which the filesystem is WARNING (Linux)
    inodes_warn: float = 20.0
    #: free inodes % at or below which the filesystem is CRITICAL (Linux)
    inodes_crit: float = 10.0
    #: mount points or drive letters to judge (default: every real filesystem)
    mounts: tuple[str, ...] = ()
    #: how far back the growth rate is fitted
    forecast_window: Duration = Duration(7 * 86400.0)
    #: history needed before a forecast is given
    forecast_min_history: Duration = Duration(6 * 3600.0)
    #: per-filesystem seconds before a hung statfs() (a dead NFS/SMB mount) is reported
    fs_timeout: float = 5.0

    def __post_init__(self) -> None:
        check_percent(self, "warn", "crit", "inodes_warn", "inodes_crit")
        check_order(self, "warn", "crit")
        if self.inodes_warn < self.inodes_crit:
            raise ValueError(f"inodes_warn: free inodes % must not be below inodes_crit "
                             f"({self.inodes_warn:g} < {self.inodes_crit:g})")
        if self.days_crit < 0 or self.days_warn < self.days_crit:
            raise ValueError(f"days_warn: must be at least days_crit, and both at least 0 "
                             f"({self.days_warn:g}, {self.days_crit:g})")
        if self.forecast_window < 3600:
            raise ValueError("forecast_window: expected at least 1h")
        if self.forecast_min_history > self.forecast_window:
            raise ValueError("forecast_min_history: must not be longer than forecast_window")
        if self.fs_timeout <= 0:
            raise ValueError("fs_timeout: expected more than 0 seconds")
