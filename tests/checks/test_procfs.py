"""checks/_procfs.py: the disk and system checks' Linux readings equal psutil's on this machine
(the reference it replaces in a running agent, issue 16), and the mount table is read as
getmntent reads it."""

from __future__ import annotations

import os
import sys

import psutil
import pytest

from checks import _procfs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_the_physical_filesystems_are_psutils() -> None:
    assert _procfs.disk_partitions() == [tuple(p) for p in psutil.disk_partitions(all=False)]
    assert _procfs.disk_partitions()[0]._fields == ("device", "mountpoint", "fstype", "opts")
    with pytest.raises(ValueError):
        _procfs.disk_partitions(all=True)


def test_disk_usage_is_psutils() -> None:
    for mount in [p.mountpoint for p in psutil.disk_partitions(all=False)] + ["/"]:
        for _ in range(5):  # a filesystem others write to moves between the two readings
            mine, theirs = _procfs.disk_usage(mount), tuple(psutil.disk_usage(mount))[:3]
            if mine == theirs:
                break
        assert mine == theirs, mount


def test_cpu_times_memory_and_swap_are_psutils() -> None:
    mine, theirs = _procfs.cpu_times(), psutil.cpu_times()._asdict()
    assert list(mine) == list(theirs) and list(mine) == list(_procfs.CPU_FIELDS[:len(mine)])
    assert all(0 <= theirs[k] - mine[k] < 5.0 for k in mine), (mine, theirs)  # read a moment apart
    total, available = _procfs.memory()
    vm = psutil.virtual_memory()
    assert total == vm.total and abs(available - vm.available) < vm.total * 0.02
    swap_total, swap_used = _procfs.swap()
    sw = psutil.swap_memory()
    assert swap_total == sw.total and abs(swap_used - sw.used) <= max(sw.total * 0.02, 0)
    assert (os.cpu_count() or 1) == psutil.cpu_count()


# /proc/filesystems and /proc/self/mounts as this machine's kernel (Debian 12, 6.1) writes them, plus
# lines getmntent must decode: a mount point with a space (\040) and a backslash (\134), a device "none"
FILESYSTEMS = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text3\n\text4\nnodev\tzfs\n\tvfat\n"
MOUNTS = """\
# a comment, as a hand-kept /etc/mtab may have
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda1 / ext4 rw,relatime,discard,errors=remount-ro 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=400556k,mode=755 0 0
/dev/vdb1 /srv/his\\040data ext4 rw,relatime 0 0
/dev/vdc1 /mnt/back\\134slash vfat rw,relatime 0 0
none /mnt/none ext4 rw 0 0
tank/pg /var/lib/postgresql zfs rw,xattr,noacl 0 0
"""


def test_the_mount_table_is_decoded_and_filtered_as_psutil_does() -> None:
    got = _procfs.parse_mounts(MOUNTS, FILESYSTEMS)
    assert got == [("/dev/vda1", "/", "ext4", "rw,relatime,discard,errors=remount-ro"),
                   ("/dev/vdb1", "/srv/his data", "ext4", "rw,relatime"),
                   ("/dev/vdc1", "/mnt/back\\slash", "vfat", "rw,relatime"),
                   ("tank/pg", "/var/lib/postgresql", "zfs", "rw,xattr,noacl")]


def test_a_root_device_psutil_must_look_for_is_left_to_psutil() -> None:
    assert _procfs.parse_mounts("/dev/root / ext4 rw 0 0\n", FILESYSTEMS) is None
    assert _procfs.parse_mounts("rootfs / rootfs rw 0 0\n", FILESYSTEMS) is None
