from __future__ import annotations

import errno
import threading

import pytest

from checks import disk
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Status


def fs(mount: str) -> disk.Filesystem:
    return disk.Filesystem(mount=mount, device=f"/dev/{mount.strip('/') or 'root'}", fstype="ext4")


def run_with(usages: dict, **params):
    p = parse_params(disk.DiskParams, params)
    return disk.run(p, CheckContext(), filesystems=lambda: [fs(m) for m in usages],
                    usage=lambda path: usages[path]())


def test_disk_reports_every_real_filesystem_of_this_machine():
    results = disk.run(disk.DiskParams(), CheckContext())
    mounts = {r.item for r in results}
    assert "/" in mounts
    root = next(r for r in results if r.item == "/")
    names = {m.name for m in root.metrics}
    assert names == {"used_percent", "free_bytes", "total_bytes"}
    assert root.status in (Status.OK, Status.WARNING, Status.CRITICAL)
    assert root.standard == "used < 80 %"


def test_disk_leaves_out_pseudo_filesystems():
    class P:
        def __init__(self, mount, fstype):
            self.mountpoint, self.fstype, self.device, self.opts = mount, fstype, "x", ""
    found = disk.list_filesystems(lambda all: [P("/", "ext4"), P("/proc", "proc"), P("/run", "tmpfs"),
                                               P("/data", "xfs"), P("/data", "xfs")])
    assert [f.mount for f in found] == ["/", "/data"]


@pytest.mark.parametrize(("used", "free", "status"), [
    (79, 21, Status.OK), (80, 20, Status.WARNING), (89, 11, Status.WARNING), (90, 10, Status.CRITICAL),
])
def test_disk_status_follows_warn_and_crit_when_usage_crosses_them(used, free, status):
    [r] = run_with({"/data": lambda: (used + free, used, free)}, warn=80, crit=90)
    assert r.status is status
    assert r.metrics[0].value == pytest.approx(used)


def test_disk_counts_reserved_blocks_like_df_does():
    # 100 GiB total, 5 reserved for root: 45 used, 50 free to users -> 47.37 %
    [r] = run_with({"/": lambda: (100, 45, 50)})
    assert r.metrics[0].value == pytest.approx(47.37, abs=0.01)


def test_disk_unknown_when_a_network_mount_hangs_and_others_still_report():
    gate = threading.Event()
    results = run_with({"/mnt/nfs": lambda: (gate.wait(5), 0, 0), "/": lambda: (100, 10, 90)},
                       fs_timeout=0.2)
    gate.set()
    by_item = {r.item: r for r in results}
    assert by_item["/mnt/nfs"].status is Status.UNKNOWN
    assert "no answer within 0.2 s" in by_item["/mnt/nfs"].summary
    assert by_item["/"].status is Status.OK


def test_disk_critical_when_a_named_mount_is_missing():
    def gone():
        raise OSError(errno.ENOENT, "No such file or directory")
    p = parse_params(disk.DiskParams, {"mounts": ["/backup"]})
    [r] = disk.run(p, CheckContext(), filesystems=lambda: [], usage=lambda path: gone())
    assert r.item == "/backup" and r.status is Status.CRITICAL
    assert "No such file or directory" in r.summary


def test_disk_config_rejects_warn_above_crit():
    with pytest.raises(ParamError, match="warn"):
        parse_params(disk.DiskParams, {"warn": 95, "crit": 90})


def test_disk_config_rejects_percentages_out_of_range():
    with pytest.raises(ParamError, match="crit"):
        parse_params(disk.DiskParams, {"crit": 150})
