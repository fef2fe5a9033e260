from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from checks import _forecast, disk
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Status


def fs(mount: str) -> disk.Filesystem:
    return disk.Filesystem(mount=mount, device=f"/dev/{mount.strip('/') or 'root'}", fstype="ext4")


def run_with(usages: dict, ctx: CheckContext | None = None, inodes=lambda path: None, **params):
    p = parse_params(disk.DiskParams, params)
    return disk.run(p, ctx or CheckContext(), filesystems=lambda: [fs(m) for m in usages],
                    usage=lambda path: usages[path](), inodes=inodes)


def test_disk_reports_every_real_filesystem_of_this_machine():
    results = disk.run(disk.DiskParams(), CheckContext())
    mounts = {r.item for r in results}
    assert "/" in mounts
    root = next(r for r in results if r.item == "/")
    names = {m.name for m in root.metrics}
    assert {"used_percent", "free_bytes", "total_bytes", "days_to_full"} <= names
    assert root.status in (Status.OK, Status.WARNING, Status.CRITICAL)
    assert root.standard == "used < 80 %, full in > 30 d"


def test_disk_leaves_out_pseudo_filesystems():
    class P:
        def __init__(self, mount, fstype, device=None):
            self.mountpoint, self.fstype, self.opts = mount, fstype, ""
            self.device = device or f"/dev/{mount.strip('/') or 'root'}"
    found = disk.list_filesystems(lambda all: [P("/", "ext4"), P("/proc", "proc"), P("/run", "tmpfs"),
                                               P("/data", "xfs"), P("/data", "xfs")])
    assert [f.mount for f in found] == ["/", "/data"]


def test_disk_reports_a_bind_mounted_filesystem_once():
    class P:
        def __init__(self, mount, device):
            self.mountpoint, self.fstype, self.device, self.opts = mount, "ext4", device, ""
    found = disk.list_filesystems(lambda all: [P("/", "/dev/vda"), P("/run/netns", "/dev/vda"),
                                               P("/var/lib/docker", "/dev/vda"), P("/data", "/dev/vdb")],
                                  windows=False)
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
    assert "no answer within 200 ms" in by_item["/mnt/nfs"].summary
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


# -- inodes ------------------------------------------------------------------

def test_disk_reports_free_inodes_of_a_real_linux_filesystem():
    if not hasattr(os, "statvfs"):
        pytest.skip("inodes are a POSIX notion")
    [r] = disk.run(parse_params(disk.DiskParams, {"mounts": ["/"]}), CheckContext())
    st = os.statvfs("/")
    metric = {m.name: m for m in r.metrics}.get("inodes_free_percent")
    if st.f_files == 0:
        assert metric is None  # this filesystem does not count inodes
    else:
        assert metric is not None and metric.unit == "%"
        assert metric.value == pytest.approx(100.0 * st.f_ffree / st.f_files, abs=0.5)
        assert (metric.warn, metric.crit) == (20.0, 10.0)


@pytest.mark.parametrize(("free", "status"), [
    (21, Status.OK), (20, Status.WARNING), (11, Status.WARNING), (10, Status.CRITICAL), (0, Status.CRITICAL),
])
def test_disk_status_follows_free_inodes_when_they_run_out(free, status):
    [r] = run_with({"/data": lambda: (100, 10, 90)}, inodes=lambda path: (100, free))
    assert r.status is status
    if status is not Status.OK:
        assert f"only {free:.1f} % of inodes free" in r.summary


def test_disk_leaves_inodes_out_when_the_filesystem_does_not_count_them():
    [r] = run_with({"/data": lambda: (100, 10, 90)}, inodes=lambda path: None)
    assert "inodes_free_percent" not in {m.name for m in r.metrics}


# -- Windows drive letters ------------------------------------------------------

class _Part:
    def __init__(self, mount, fstype, opts, device=None):
        self.mountpoint, self.fstype, self.opts, self.device = mount, fstype, opts, device or mount


# psutil.disk_partitions() on Windows Server 2019: shapes as documented by psutil
# (sdiskpart(device='C:\\', mountpoint='C:\\', fstype='NTFS', opts='rw,fixed')).
WINDOWS_PARTITIONS = [
    _Part("C:\\", "NTFS", "rw,fixed"), _Part("D:\\", "NTFS", "rw,fixed"),
    _Part("E:\\", "", "cdrom"), _Part("F:\\", "UDF", "ro,cdrom"),
    _Part("G:\\", "", "removable"), _Part("H:\\", "FAT32", "rw,removable"),
]


def test_disk_lists_windows_drive_letters_without_optical_or_empty_removable_drives():
    found = disk.list_filesystems(lambda all: WINDOWS_PARTITIONS, windows=True)
    assert [f.mount for f in found] == ["C:\\", "D:\\", "H:\\"]


def test_disk_accepts_a_windows_drive_letter_written_as_c_colon():
    p = parse_params(disk.DiskParams, {"mounts": ["c:", "D:/"]})
    listed = disk.list_filesystems(lambda all: WINDOWS_PARTITIONS, windows=True)
    results = disk.run(p, CheckContext(), windows=True, filesystems=lambda: listed,
                       usage=lambda path: {"C:\\": (100, 50, 50), "D:\\": (100, 95, 5)}[path],
                       inodes=lambda path: None)
    assert [(r.item, r.status) for r in results] == [("C:\\", Status.OK), ("D:\\", Status.CRITICAL)]


# psutil.disk_partitions() on a Windows Server 2019 SQL Server host whose data and log volumes are
# mounted in folders of D:.  Order and fields as psutil/arch/windows/disk.c (psutil_disk_partitions)
# builds them: for each drive letter, first one entry per volume mount point found on it
# (device = the host drive's letter, mountpoint = drive + the FindFirst/NextVolumeMountPoint path
# with its trailing backslash, fstype = the host drive's, opts without the drive type: psutil issue
# #2938), then the drive itself; output shape as in psutil issues #1986 and #775.
WINDOWS_MOUNT_POINTS = [
    _Part("C:\\", "NTFS", "rw,fixed"),
    _Part("D:\\MSSQL\\DATA\\", "NTFS", "rw", device="D:\\"),
    _Part("D:\\MSSQL\\LOG\\", "NTFS", "rw", device="D:\\"),
    _Part("D:\\", "NTFS", "rw,fixed"),
    _Part("E:\\", "", "cdrom"),
]


def test_disk_reports_windows_volume_mount_points_and_their_host_drive():
    found = disk.list_filesystems(lambda all: WINDOWS_MOUNT_POINTS, windows=True)
    assert [f.mount for f in found] == ["C:\\", "D:\\MSSQL\\DATA\\", "D:\\MSSQL\\LOG\\", "D:\\"]


def test_disk_judges_a_full_mounted_sql_log_volume_apart_from_its_drive():
    listed = disk.list_filesystems(lambda all: WINDOWS_MOUNT_POINTS, windows=True)
    usage = {"C:\\": (100, 40, 60), "D:\\": (1000, 300, 700), "D:\\MSSQL\\DATA\\": (500, 200, 300),
             "D:\\MSSQL\\LOG\\": (100, 97, 3)}
    results = {r.item: r for r in disk.run(parse_params(disk.DiskParams, {}), CheckContext(), windows=True,
                                           filesystems=lambda: listed, usage=usage.__getitem__,
                                           inodes=lambda path: None)}
    assert results["D:\\MSSQL\\LOG\\"].status is Status.CRITICAL
    assert results["D:\\"].status is Status.OK and results["C:\\"].status is Status.OK
    # named in mounts the way people write it
    p = parse_params(disk.DiskParams, {"mounts": ["d:/mssql/log", "D:"]})
    named = disk.run(p, CheckContext(), windows=True, filesystems=lambda: listed, usage=usage.__getitem__,
                     inodes=lambda path: None)
    assert [(r.item, r.status) for r in named] == [("D:\\MSSQL\\LOG\\", Status.CRITICAL), ("D:\\", Status.OK)]


# -- days until full -------------------------------------------------------------

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
GiB = 2**30


def grow(ctx_state: dict, usages: list[tuple[float, int]], total: int = 100 * GiB, **params):
    """Run the check once per (hours after T0, used bytes), sharing state like the agent does."""
    results = []
    for hours, used in usages:
        ctx = CheckContext(state=ctx_state, now=T0 + timedelta(hours=hours))
        [r] = run_with({"/data": lambda used=used: (total, used, total - used)}, ctx, **params)
        results.append(r)
    return results


def metric(r, name):
    return {m.name: m for m in r.metrics}[name]


def test_forecast_gives_no_figure_and_says_so_when_history_is_too_short():
    state: dict = {}
    *_, r = grow(state, [(0, 50 * GiB), (1, 51 * GiB)])
    assert metric(r, "days_to_full").value is None
    assert "no forecast yet: 2 samples over 1 h, need 3 over 6 h" in r.summary
    assert r.status is Status.OK


def test_forecast_gives_no_figure_when_the_filesystem_is_not_growing():
    state: dict = {}
    *_, r = grow(state, [(h, 50 * GiB - h * GiB // 10) for h in range(0, 13)])
    assert metric(r, "days_to_full").value is None
    assert "not growing" in r.summary
    assert r.details["forecast"]["growth_bytes_per_day"] < 0


@pytest.mark.parametrize(("gib_per_day", "status"), [
    (1, Status.OK),          # 40 GiB free at 1 GiB/day: 40 days
    (2, Status.WARNING),     # 20 days
    (8, Status.CRITICAL),    # 5 days
])
def test_forecast_status_follows_days_warn_and_crit_when_a_filesystem_fills(gib_per_day, status):
    # used stays below warn (60 %) so only the forecast judges
    state: dict = {}
    start = 60 * GiB - 2 * gib_per_day * GiB  # two days of history ending at 60 GiB used
    points = [(h, int(start + gib_per_day * GiB * h / 24)) for h in range(0, 49, 4)]
    *_, r = grow(state, points)
    days = metric(r, "days_to_full").value
    assert days == pytest.approx(40 / gib_per_day, rel=0.01)
    assert r.status is status
    assert f"full in {days:.1f} d" in r.summary


def test_forecast_fits_a_line_through_noisy_history():
    slope, intercept = _forecast.linear_fit([(0, 1.0), (1, 3.1), (2, 4.9), (3, 7.0)])
    assert slope == pytest.approx(1.98, abs=0.01) and intercept == pytest.approx(1.03, abs=0.01)


def test_forecast_history_is_bounded_by_window_and_sample_cap():
    entry = None
    for minute in range(0, 10 * 24 * 60, 5):  # ten days of 5-minute runs
        entry = _forecast.remember(entry, minute * 60.0, minute, 1000, window_s=7 * 86400, max_samples=100)
    samples = entry["samples"]
    assert len(samples) <= 101
    assert samples[-1][0] == (10 * 24 * 60 - 5) * 60.0  # the newest reading is always kept
    assert samples[-1][0] - samples[0][0] <= 7 * 86400


def test_forecast_starts_afresh_when_the_filesystem_is_resized():
    entry = {"total": 1000, "samples": [[0.0, 10.0], [3600.0, 20.0]]}
    assert _forecast.remember(entry, 7200.0, 30, 2000, window_s=86400)["samples"] == [[7200.0, 30.0]]


def test_forecast_ignores_a_corrupted_history():
    entry = {"total": 1000, "samples": [["x", 1], [1.0], None, [10.0, 5.0]]}
    assert _forecast.remember(entry, 20.0, 6, 1000, window_s=86400)["samples"] == [[10.0, 5.0], [20.0, 6.0]]


def test_forecast_is_real_on_this_machine_from_a_history_of_its_root_filesystem():
    """The real / with two days of synthetic history growing 1 GiB/day up to today's real usage."""
    p = parse_params(disk.DiskParams, {"mounts": ["/"]})
    total, used, free = disk._usage("/")
    now = datetime.now(UTC)
    samples = [[(now - timedelta(hours=h)).timestamp(), float(used - GiB * h / 24)] for h in range(48, 0, -6)]
    ctx = CheckContext(state={"history": {"/": {"total": total, "samples": samples}}}, now=now)
    [r] = disk.run(p, ctx)
    days = metric(r, "days_to_full").value
    # the real used bytes moved a little between our reading and the check's
    assert days == pytest.approx(free / GiB, rel=0.05)
    assert len(ctx.state["history"]["/"]["samples"]) == len(samples) + 1


def test_forecast_state_forgets_filesystems_that_are_gone():
    state = {"history": {"/old": {"total": 1, "samples": [[0.0, 1.0]]}}}
    grow(state, [(0, GiB)])
    assert set(state["history"]) == {"/data"}


def test_disk_config_rejects_days_warn_below_days_crit():
    with pytest.raises(ParamError, match="days_warn"):
        parse_params(disk.DiskParams, {"days_warn": 3, "days_crit": 7})


def test_disk_cli_runs_with_params_on_this_machine():
    out = subprocess.run([sys.executable, "-m", "agent", "check", "disk", "--param", "mounts=/",
                          "--param", "warn=99.9", "--param", "crit=100", "--json"],
                         capture_output=True, text=True, timeout=60)
    [r] = json.loads(out.stdout)
    assert r["item"] == "/" and r["standard"] == "used < 99.9 %, full in > 30 d"
    assert out.returncode == r["status"]
    assert {m["name"] for m in r["metrics"]} >= {"used_percent", "days_to_full"}
