"""disk: used space, free inodes and days until full of every real mounted filesystem.

One result per filesystem (item = mount point; on Windows a drive letter such
as ``C:\\`` or a volume mounted in a folder such as ``D:\\MSSQL\\LOG\\``).
Pseudo filesystems (proc, tmpfs, overlay, squashfs...) are left out; on
Windows so are optical drives and removable drives with no medium.

The result's status is the worst of three judgements:

======== ==============================================================
status   meaning
======== ==============================================================
OK       used % below ``warn``, free inodes above ``inodes_warn`` %, and
         either not filling up or full in more than ``days_warn`` days
WARNING  used % at or above ``warn`` (default 80); or free inodes at or
         below ``inodes_warn`` % (default 20, Linux); or full in
         ``days_warn`` days or fewer (default 30) at the recent growth rate
CRITICAL used % at or above ``crit`` (default 90); or free inodes at or
         below ``inodes_crit`` % (default 10); or full in ``days_crit``
         days or fewer (default 7); or a mount named in ``mounts`` is
         missing or unreadable
UNKNOWN  the filesystem could not be read (e.g. a hung network mount);
         or no filesystem matched ``mounts``
======== ==============================================================

Days until full: each run records ``(time, used bytes)`` per filesystem in the
check's state (bounded: the last ``forecast_window``, at most 500 samples), and
a least-squares line through them gives the growth rate; the free space divided
by that rate is the forecast.  With less than ``forecast_min_history`` of
history (default 6h), or when the filesystem is not growing, there is no
figure: the metric is empty and the summary says why.

Metrics: ``used_percent`` (%), ``free_bytes`` (B), ``total_bytes`` (B),
``inodes_free_percent`` (%, filesystems that count inodes),
``days_to_full`` (d, empty without a forecast).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from checks import _forecast, _procfs
from checks._files import TimedOut, call_with_timeout
from checks._judge import above, below
from checks._params.disk import DiskParams
from checks.context import CheckContext
from checks.messages import Said, say
from checks.params import format_duration
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "disk"

# Filesystems that hold no user data: kernel views, container layers, squashfs snaps.
PSEUDO_FSTYPES = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc",
    "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tracefs", "tmpfs",
    "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse", "nfsd", "selinuxfs",
})


@dataclass(frozen=True)
class Filesystem:
    mount: str
    device: str
    fstype: str


def list_filesystems(partitions: Callable[..., Any] | None = None, *,
                     windows: bool = sys.platform == "win32") -> list[Filesystem]:
    """Real filesystems, one per mount point, pseudo filesystems left out.

    On Linux a device mounted twice (a bind mount such as ``/run/netns`` or a
    container's volume) is the same filesystem: only its first mount point
    (the order of ``/proc/mounts``: the original mount) is reported.

    On Windows psutil gives drive letters (``C:\\``) with ``opts`` such as
    ``rw,fixed``, ``cdrom`` or ``removable``; an optical drive is never a disk
    and a removable drive without a medium has no filesystem type.  A volume
    mounted in a folder (``D:\\MSSQL\\DATA\\``, common for SQL Server data and
    log volumes) comes *before* its host drive, with the host drive's letter as
    its ``device`` (psutil's ``disk.c``): each is its own volume, so Windows
    entries are told apart by mount point, never by device.  psutil finds
    mount points only when the agent runs as an administrator (psutil #1986).
    """
    if partitions is None:
        if sys.platform.startswith("linux"):
            partitions = _procfs.disk_partitions  # psutil's reading without loading psutil (issue 16)
        else:
            import psutil
            partitions = psutil.disk_partitions
    seen: set[str] = set()
    devices: set[str] = set()
    out: list[Filesystem] = []
    for p in partitions(all=False):
        fstype = (p.fstype or "").lower()
        key = p.mountpoint.lower() if windows else p.mountpoint
        if fstype in PSEUDO_FSTYPES or key in seen:
            continue
        if windows:
            opts = (p.opts or "").lower().split(",")
            if "cdrom" in opts or ("removable" in opts and not fstype):
                continue
        elif p.device and p.device in devices:
            continue
        seen.add(key)
        if p.device:
            devices.add(p.device)
        out.append(Filesystem(mount=p.mountpoint, device=p.device, fstype=fstype))
    return out


def _usage(path: str) -> tuple[int, int, int]:
    if sys.platform.startswith("linux"):
        return _procfs.disk_usage(path)  # psutil.disk_usage's statvfs formula, without psutil
    import psutil
    u = psutil.disk_usage(path)
    return u.total, u.used, u.free


def _inodes(path: str) -> tuple[int, int] | None:
    """(total, free) inodes, or None where the filesystem does not count them (Windows, btrfs, vfat)."""
    if not hasattr(os, "statvfs"):
        return None
    st = os.statvfs(path)
    if st.f_files <= 0:
        return None
    return st.f_files, st.f_ffree


def _normalise_mount(mount: str, windows: bool) -> str:
    """``C:``, ``c:/`` and ``C:\\`` all name the drive psutil calls ``C:\\``; ``D:/MSSQL/DATA``
    names the mounted folder ``D:\\MSSQL\\DATA\\``."""
    if not (windows and len(mount) >= 2 and mount[1] == ":" and mount[0].isalpha()):
        return mount
    path = mount[0].upper() + mount[1:].replace("/", "\\")
    return path if path.endswith("\\") else path + "\\"


def run(params: DiskParams, ctx: CheckContext, *,
        filesystems: Callable[[], list[Filesystem]] = list_filesystems,
        usage: Callable[[str], tuple[int, int, int]] = _usage,
        inodes: Callable[[str], tuple[int, int] | None] = _inodes,
        windows: bool = sys.platform == "win32") -> list[Result]:
    fss = filesystems()
    if params.mounts:
        wanted = [_normalise_mount(m, windows) for m in params.mounts]
        by_mount = {f.mount.lower() if windows else f.mount: f for f in fss}
        fss = [by_mount.get(m.lower() if windows else m) or Filesystem(mount=m, device="", fstype="")
               for m in wanted]
    if not fss:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary=say("disk.none"))]
    standard = say("disk.standard", warn=params.warn, days=params.days_warn)
    history = ctx.state.get("history")
    if not isinstance(history, dict):
        history = {}
    kept: dict[str, Any] = {}
    now_s = ctx.now.timestamp()
    results: list[Result] = []

    def measure(mount: str) -> tuple[tuple[int, int, int], tuple[int, int] | None]:
        space = usage(mount)
        try:
            counts = inodes(mount)
        except OSError:
            counts = None
        return space, counts

    # statfs() on a dead network mount blocks in the kernel; time-box each one, in a daemon thread
    # (checks._files.call_with_timeout): a thread stuck there must not keep the agent from exiting.
    for fs in fss:
        try:
            (total, used, free), counts = call_with_timeout(partial(measure, fs.mount), params.fs_timeout,
                                                            "disk-usage")
        except TimedOut:
            results.append(Result(
                check=NAME, item=fs.mount, status=Status.UNKNOWN, standard=standard,
                summary=say("disk.hung", mount=fs.mount, timeout=params.fs_timeout),
                details={"device": fs.device, "fstype": fs.fstype}))
            if fs.mount in history:
                kept[fs.mount] = history[fs.mount]
            continue
        except OSError as exc:
            results.append(Result(
                check=NAME, item=fs.mount, status=Status.CRITICAL if params.mounts else Status.UNKNOWN,
                standard=standard, summary=say("disk.unreadable", mount=fs.mount, error=exc.strerror or str(exc)),
                details={"device": fs.device, "fstype": fs.fstype}))
            continue
        entry = _forecast.remember(history.get(fs.mount), now_s, used, total,
                                   window_s=params.forecast_window)
        kept[fs.mount] = entry
        forecast = _forecast.days_to_full(entry, free, min_span_s=params.forecast_min_history)
        results.append(_judge(fs, total, used, free, counts, forecast, params, standard))
    # Only filesystems seen in this run are kept: an unmounted one's history goes.
    ctx.state["history"] = kept
    return results


def _judge(fs: Filesystem, total: int, used: int, free: int, counts: tuple[int, int] | None,
           forecast: _forecast.Forecast, params: DiskParams, standard: Said) -> Result:
    # Like df: reserved blocks count as neither used nor free to users.
    denominator = used + free
    pct = round(100.0 * used / denominator, 2) if denominator else 0.0
    statuses = [above(pct, params.warn, params.crit)]
    parts = [say("disk.used", mount=fs.mount, used=pct, free=free, total=total)]
    metrics = [
        Metric("used_percent", pct, "%", warn=params.warn, crit=params.crit, min=0, max=100),
        Metric("free_bytes", float(free), "B", min=0, max=float(total)),
        Metric("total_bytes", float(total), "B", min=0),
    ]
    details: dict[str, Any] = {"device": fs.device, "fstype": fs.fstype}
    if counts is not None:
        files, ffree = counts
        inode_pct = round(100.0 * ffree / files, 2)
        inode_status = below(inode_pct, params.inodes_warn, params.inodes_crit)
        statuses.append(inode_status)
        if inode_status is not Status.OK:
            parts.append(say("disk.inodes_low", free_pct=inode_pct, free=ffree, total=files))
        metrics.append(Metric("inodes_free_percent", inode_pct, "%", warn=params.inodes_warn,
                              crit=params.inodes_crit, min=0, max=100))
        details.update(inodes_total=files, inodes_free=ffree)
    days = None if forecast.days is None else round(forecast.days, 2)
    if days is not None:
        statuses.append(below(days, params.days_warn, params.days_crit))
        parts.append(say("disk.full_in", days=days, growth=forecast.growth_bytes_per_day or 0))
    else:
        parts.append(forecast.reason)
    metrics.append(Metric("days_to_full", days, "d", warn=params.days_warn, crit=params.days_crit, min=0))
    details["forecast"] = {
        "samples": forecast.samples, "span_s": round(forecast.span_s, 1),
        "window": format_duration(params.forecast_window),
        "growth_bytes_per_day": None if forecast.growth_bytes_per_day is None
        else round(forecast.growth_bytes_per_day, 1),
    }
    return Result(
        check=NAME, item=fs.mount, status=Status.worst(statuses), standard=standard,
        summary=say("results.joined", parts=parts), metrics=tuple(metrics), details=details,
    )

