"""What the disk and system checks read through psutil, read on Linux from /proc and statvfs the
way psutil 7 reads it (``psutil/_pslinux.py``, ``_psposix.disk_usage``): same numbers, same
field names, without loading psutil and the ``subprocess``, ``locale``, ``glob`` … it imports
(issue 16: about 1.3 MB of an idle agent's memory, docs/benchmarks.md).

Where psutil does more than read a file — a root filesystem named ``/dev/root`` (it searches
the real device), a kernel without ``MemAvailable`` (it estimates), no swap lines — the answer is
psutil's own: it is imported for that reading.  Other systems (Windows) use psutil throughout.
"""

from __future__ import annotations

import os
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CPU_FIELDS", "Partition", "cpu_times", "disk_partitions", "disk_usage", "memory", "swap"]

#: psutil's names for the first numbers of /proc/stat's ``cpu`` line (as many as the kernel gives)
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
#: ``psutil.disk_partitions()``'s fields
Partition = namedtuple("Partition", "device mountpoint fstype opts")
#: getmntent's escapes in /proc/self/mounts (glibc ``decode_name``)
_ESCAPES = (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\"), ("\\\\", "\\"))


def cpu_times() -> dict[str, float]:
    """``psutil.cpu_times()._asdict()``: the ``cpu`` line of /proc/stat in seconds."""
    with open("/proc/stat", "rb") as f:
        values = f.readline().split()[1:]
    ticks = os.sysconf("SC_CLK_TCK")
    n = 7 + sum(len(values) >= k for k in (8, 9, 10))  # user … softirq, then steal, guest, guest_nice
    return {name: float(v) / ticks for name, v in zip(CPU_FIELDS[:n], values[:n], strict=True)}


def _meminfo() -> dict[bytes, int]:
    with open("/proc/meminfo", "rb") as f:
        return {fields[0]: int(fields[1]) * 1024 for fields in (line.split() for line in f) if len(fields) > 1}


def memory() -> tuple[int, int]:
    """(total, available) bytes as ``psutil.virtual_memory()`` gives them."""
    mems = _meminfo()
    available = mems.get(b"MemAvailable:", 0)
    if not available or available > mems[b"MemTotal:"]:  # psutil estimates it (old kernels, issue 1915)
        import psutil

        vm = psutil.virtual_memory()
        return vm.total, vm.available
    return mems[b"MemTotal:"], available


def swap() -> tuple[int, int]:
    """(total, used) bytes as ``psutil.swap_memory()`` gives them."""
    mems = _meminfo()
    if b"SwapTotal:" not in mems or b"SwapFree:" not in mems:
        import psutil

        sw = psutil.swap_memory()
        return sw.total, sw.used
    return mems[b"SwapTotal:"], mems[b"SwapTotal:"] - mems[b"SwapFree:"]


def _decode(field: str) -> str:
    for escaped, plain in _ESCAPES:
        field = field.replace(escaped, plain)
    return field


def parse_mounts(mounts: str, filesystems: str) -> list[Any] | None:
    """``disk_partitions(all=False)`` from the text of the mount table and of /proc/filesystems;
    None where a device is ``/dev/root`` or ``rootfs`` (psutil looks for the real one)."""
    fstypes = {line.strip() for line in filesystems.splitlines() if line.strip() and not line.startswith("nodev")}
    if any(line.startswith("nodev") and line.split("\t")[1:2] == ["zfs"] for line in filesystems.splitlines()):
        fstypes.add("zfs")
    out = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0].startswith("#"):  # getmntent skips comments (an /etc/mtab file)
            continue
        device, mountpoint, fstype, opts = (_decode(f) for f in fields[:4])
        device = "" if device == "none" else device
        if device in ("/dev/root", "rootfs"):
            return None
        if device and fstype in fstypes:
            out.append(Partition(device, mountpoint, fstype, opts))
    return out


def disk_partitions(all: bool = False) -> list[Any]:  # noqa: A002 - psutil's keyword
    """``psutil.disk_partitions(all=False)``: the physical filesystems of the mount table."""
    if all:
        raise ValueError("only the physical filesystems are read here")
    mtab = "/etc/mtab" if os.path.isfile("/etc/mtab") else "/proc/self/mounts"
    with open(os.path.realpath(mtab), encoding="utf-8", errors="surrogateescape") as f:
        mounts = f.read()
    with open("/proc/filesystems", encoding="utf-8") as f:
        filesystems = f.read()
    found = parse_mounts(mounts, filesystems)
    if found is None:
        import psutil

        return list(psutil.disk_partitions(all=False))
    return found


def disk_usage(path: str) -> tuple[int, int, int]:
    """(total, used, free) bytes of the filesystem of ``path``, as ``psutil.disk_usage``: used
    counts the blocks only root may use as free, free is what a user may still write."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return total, total - st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize
