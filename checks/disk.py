"""disk: used space of every real mounted filesystem.

One result per filesystem (item = mount point, or drive letter on Windows).

======== ==============================================================
status   meaning
======== ==============================================================
OK       used % below ``warn``
WARNING  used % at or above ``warn`` (default 80)
CRITICAL used % at or above ``crit`` (default 90)
UNKNOWN  the filesystem could not be read (e.g. a hung network mount);
         or no filesystem matched ``mounts``
======== ==============================================================

Metrics: ``used_percent`` (%), ``free_bytes`` (B), ``total_bytes`` (B).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from checks.context import CheckContext
from checks.judge import above
from checks.result import Metric, Result, Status

NAME = "disk"

# Filesystems that hold no user data: kernel views, container layers, squashfs snaps.
PSEUDO_FSTYPES = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc",
    "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tracefs", "tmpfs",
    "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse", "nfsd", "selinuxfs",
})


@dataclass(frozen=True)
class DiskParams:
    warn: float = 80.0
    crit: float = 90.0
    mounts: tuple[str, ...] = ()
    #: per-filesystem seconds before a hung statfs() (a dead NFS/SMB mount) is reported
    fs_timeout: float = 5.0

    def __post_init__(self) -> None:
        for key in ("warn", "crit"):
            v = getattr(self, key)
            if not 0 <= v <= 100:
                raise ValueError(f"{key}: expected a percentage between 0 and 100 (got {v:g})")
        if self.warn > self.crit:
            raise ValueError(f"warn: must not be above crit ({self.warn:g} > {self.crit:g})")


@dataclass(frozen=True)
class Filesystem:
    mount: str
    device: str
    fstype: str


def list_filesystems(partitions: Callable[..., Any] | None = None) -> list[Filesystem]:
    """Real filesystems, one per mount point, pseudo filesystems left out."""
    if partitions is None:
        import psutil
        partitions = psutil.disk_partitions
    seen: set[str] = set()
    out: list[Filesystem] = []
    for p in partitions(all=False):
        fstype = (p.fstype or "").lower()
        if fstype in PSEUDO_FSTYPES or p.mountpoint in seen:
            continue
        if sys.platform == "win32" and "cdrom" in (p.opts or ""):
            continue  # an empty optical drive is not a disk
        seen.add(p.mountpoint)
        out.append(Filesystem(mount=p.mountpoint, device=p.device, fstype=fstype))
    return out


def _usage(path: str) -> tuple[int, int, int]:
    import psutil
    u = psutil.disk_usage(path)
    return u.total, u.used, u.free


def run(params: DiskParams, ctx: CheckContext, *,
        filesystems: Callable[[], list[Filesystem]] = list_filesystems,
        usage: Callable[[str], tuple[int, int, int]] = _usage) -> list[Result]:
    fss = filesystems()
    if params.mounts:
        wanted = [os.path.normcase(m) for m in params.mounts]
        by_mount = {os.path.normcase(f.mount): f for f in fss}
        fss = [by_mount.get(m) or Filesystem(mount=m, device="", fstype="") for m in wanted]
    if not fss:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary="no real filesystem is mounted")]
    standard = f"used < {params.warn:g} %"
    results: list[Result] = []
    # statfs() on a dead network mount blocks in the kernel; time-box each one.
    pool = ThreadPoolExecutor(max_workers=min(4, len(fss)), thread_name_prefix="disk-usage")
    try:
        futures = [(fs, pool.submit(usage, fs.mount)) for fs in fss]
        for fs, fut in futures:
            try:
                total, used, free = fut.result(timeout=params.fs_timeout)
            except FutureTimeout:
                results.append(Result(
                    check=NAME, item=fs.mount, status=Status.UNKNOWN, standard=standard,
                    summary=f"{fs.mount}: no answer within {params.fs_timeout:g} s (hung network mount?)",
                    details={"device": fs.device, "fstype": fs.fstype}))
                continue
            except OSError as exc:
                results.append(Result(
                    check=NAME, item=fs.mount, status=Status.CRITICAL if params.mounts else Status.UNKNOWN,
                    standard=standard, summary=f"{fs.mount}: cannot read ({exc.strerror or exc})",
                    details={"device": fs.device, "fstype": fs.fstype}))
                continue
            results.append(_judge(fs, total, used, free, params, standard))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _judge(fs: Filesystem, total: int, used: int, free: int, params: DiskParams, standard: str) -> Result:
    # Like df: reserved blocks count as neither used nor free to users.
    denominator = used + free
    pct = round(100.0 * used / denominator, 2) if denominator else 0.0
    status = above(pct, params.warn, params.crit)
    return Result(
        check=NAME, item=fs.mount, status=status, standard=standard,
        summary=f"{fs.mount} {pct:.1f} % used, {_human(free)} free of {_human(total)}",
        metrics=(
            Metric("used_percent", pct, "%", warn=params.warn, crit=params.crit, min=0, max=100),
            Metric("free_bytes", float(free), "B", min=0, max=float(total)),
            Metric("total_bytes", float(total), "B", min=0),
        ),
        details={"device": fs.device, "fstype": fs.fstype},
    )


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover
