"""patches tests.

Debian: the real ``apt-get`` of this machine, on the machine itself and on a private apt root
(``APT_CONFIG`` with ``Dir`` pointing into tmp_path: a dpkg status file, two local ``file:``
archives, one of them a ``-security`` suite, indexed by a real ``apt-get update`` of that private
root: the check itself never runs it).  RHEL (dnf, yum) and Windows cannot run here: their output
comes from fixtures of real output (``fixtures/patches_fixtures.source`` says where each came from).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from checks import _windows, patches
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.conftest import missing

FIXTURES = Path(__file__).parent / "fixtures"
D = 86400


def params(**raw: Any) -> patches.PatchesParams:
    return parse_params(patches.PatchesParams, raw)


def by_item(results: list[Result]) -> dict[str, Result]:
    return {r.item: r for r in results}


def metric(r: Result, name: str) -> float | None:
    return next(m.value for m in r.metrics if m.name == name)


# --------------------------------------------------------------------------- parameters

def test_patches_defaults_and_catalogue():
    p = patches.PatchesParams()
    assert (p.max_security_age, p.max_since_update, p.max_lists_age) == (30 * D, 90 * D, 7 * D)
    assert get_check("patches").params is patches.PatchesParams
    assert params(manager="APT").manager == "apt"


@pytest.mark.parametrize(("raw", "key"), [
    ({"manager": "zypper"}, "manager"),
    ({"max_security_age": 0}, "max_security_age"),
    ({"max_since_update": "soon"}, "max_since_update"),
])
def test_patches_config_errors_name_the_key(raw, key):
    with pytest.raises(ParamError) as err:
        params(**raw)
    assert err.value.errors[0][0] == key


# --------------------------------------------------------------------------- this machine (real apt)

def test_patches_judges_this_debian_machine_with_its_real_apt():
    if not shutil.which("apt-get"):
        missing("apt", "apt-get is not on this machine")
    ctx = CheckContext()
    calls: list[tuple[list[str], dict[str, Any], subprocess.CompletedProcess[Any]]] = []

    def real_run(argv, **kw):  # the real subprocess.run, its output kept (one slow simulation, not two)
        proc = subprocess.run(argv, **kw)
        calls.append((argv, kw, proc))
        return proc

    results = by_item(patches.run(params(), ctx, run=real_run))
    assert set(results) >= {"security", "last_update"}
    sec = results["security"]
    assert sec.status in (Status.OK, Status.WARNING), sec.summary
    assert sec.details["manager"] == "apt" and sec.standard == "security updates installed within 30 d"
    n_sec, n_all = metric(sec, "pending_security"), metric(sec, "pending_updates")
    assert 0 <= n_sec <= n_all
    # the same count apt itself prints, counted independently from what the real apt-get wrote
    ((argv, kw, proc),) = calls
    assert argv[1:] == ["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"] and kw["env"]["LC_ALL"] == "C"
    assert proc.returncode == 0, proc.stderr
    sim = proc.stdout.decode()
    assert n_all == sum(1 for line in sim.splitlines() if line.startswith("Inst "))
    assert len(ctx.state["first_seen"]) == n_all  # remembered for the next run
    for row in sec.details["security_updates"]:
        assert row["since_is"] == "first seen by this check"
    last = results["last_update"]
    assert last.status in (Status.OK, Status.WARNING, Status.UNKNOWN) and last.details["source"] == \
        "/var/log/dpkg.log"


# --------------------------------------------------------------------------- a private apt root (real apt)

STATUS = """Package: hisclient
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 10
Maintainer: Wardround Tests <tests@wardround.invalid>
Architecture: all
Version: 1.0-1
Description: the HIS client

Package: labtool
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 10
Maintainer: Wardround Tests <tests@wardround.invalid>
Architecture: all
Version: 2.0-1
Description: a lab tool
"""


def _package(name: str, version: str) -> str:
    return (f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
            f"Maintainer: Wardround Tests <tests@wardround.invalid>\nFilename: pool/{name}_{version}_all.deb\n"
            f"Size: 1000\nSHA256: {'0' * 64}\nDescription: test\n\n")


class AptRoot:
    def __init__(self, root: Path):
        self.root = root
        self.config = root / "apt.conf"
        self.environ = {**os.environ, "APT_CONFIG": str(self.config)}

    def build(self, security: list[tuple[str, str]], updates: list[tuple[str, str]], status: str = STATUS) -> None:
        r = self.root
        for d in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
                  "var/lib/dpkg", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log",
                  "run", "repo/sec", "repo/upd"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "var/lib/dpkg/status").write_text(status)
        (r / "repo/sec/Packages").write_text("".join(_package(n, v) for n, v in security))
        (r / "repo/upd/Packages").write_text("".join(_package(n, v) for n, v in updates))
        (r / "repo/sec/Release").write_text("Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\n"
                                            "Version: 12\nCodename: bookworm-security\n")
        (r / "repo/upd/Release").write_text("Origin: Debian\nLabel: Debian\nSuite: stable-updates\n"
                                            "Version: 12.15\nCodename: bookworm-updates\n")
        (r / "etc/apt/sources.list").write_text(f"deb [trusted=yes] file:{r}/repo/sec ./\n"
                                                f"deb [trusted=yes] file:{r}/repo/upd ./\n")
        self.config.write_text(f'Dir "{r}/";\nDir::State::status "{r}/var/lib/dpkg/status";\n')
        # the test (not the check) indexes its private archives
        subprocess.run(["apt-get", "update", "-qq"], env=self.environ, capture_output=True, timeout=60, check=True)

    def age_lists(self, seconds: float) -> None:
        then = time.time() - seconds
        for p in (self.root / "var/lib/apt/lists").glob("*"):
            os.utime(p, (then, then))

    def run(self, ctx: CheckContext, **raw: Any) -> dict[str, Result]:
        return by_item(patches.run(params(manager="apt", **raw), ctx, environ=self.environ, root=str(self.root)))


@pytest.fixture
def apt_root(tmp_path: Path) -> AptRoot:
    if not shutil.which("apt-get"):
        missing("apt", "apt-get is not on this machine")
    return AptRoot(tmp_path / "root")


def dpkg_line(when: datetime, action: str, rest: str) -> str:
    return f"{when.astimezone().strftime('%Y-%m-%d %H:%M:%S')} {action} {rest}\n"


def test_apt_security_update_ok_when_new_then_warning_when_pending_past_the_limit(apt_root):
    apt_root.build(security=[("hisclient", "1.0-1+deb12u1")], updates=[("labtool", "2.1-1")])
    now = datetime.now(UTC)
    (apt_root.root / "var/log/dpkg.log").write_text(
        dpkg_line(now - timedelta(days=3), "upgrade", "labtool:all 1.9-1 2.0-1"))
    ctx = CheckContext(now=now)
    r = apt_root.run(ctx)
    sec = r["security"]
    assert sec.status is Status.OK, sec.summary
    assert sec.summary.startswith("1 security update(s) pending, oldest 0 s since first seen (limit 30 d): hisclient")
    assert "2 update(s) pending in all" in sec.summary
    assert (metric(sec, "pending_security"), metric(sec, "pending_updates")) == (1, 2)
    [row] = sec.details["security_updates"]
    assert row["name"] == "hisclient" and row["installed"] == "1.0-1" and row["candidate"] == "1.0-1+deb12u1"
    assert row["source"] == "Debian-Security:12/stable-security"
    assert r["last_update"].status is Status.OK and "package labtool" in r["last_update"].summary
    assert r["reboot"].status is Status.OK and r["reboot"].summary == "no reboot pending"

    # 31 days later, still pending: the first sighting is remembered in the state
    later = CheckContext(now=now + timedelta(days=31), state=ctx.state)
    apt_root.age_lists(0)
    sec = apt_root.run(later)["security"]
    assert sec.status is Status.WARNING, sec.summary
    assert sec.summary.startswith("1 security update(s) pending longer than 30 d (oldest 31 d): hisclient")
    assert metric(sec, "oldest_security_age_seconds") == pytest.approx(31 * D, abs=5)


def test_apt_nothing_pending_is_ok_and_names_the_lists_age(apt_root):
    apt_root.build(security=[], updates=[])
    sec = apt_root.run(CheckContext())["security"]
    assert sec.status is Status.OK
    assert sec.summary.startswith("no security update pending; 0 update(s) pending in all; lists ")


def test_apt_stale_package_lists_are_a_warning_even_with_nothing_pending(apt_root):
    apt_root.build(security=[], updates=[])
    apt_root.age_lists(10 * D)
    sec = apt_root.run(CheckContext())["security"]
    assert sec.status is Status.WARNING
    assert "package lists (/var/lib/apt/lists) 10 d old (over 7 d)" in sec.summary
    assert metric(sec, "lists_age_seconds") == pytest.approx(10 * D, abs=60)
    # max_lists_age empty: not judged
    assert apt_root.run(CheckContext(), max_lists_age=None)["security"].status is Status.OK


def test_apt_last_update_found_in_a_rotated_gzipped_log_and_judged(apt_root):
    apt_root.build(security=[], updates=[])
    now = datetime.now(UTC)
    log = apt_root.root / "var/log"
    (log / "dpkg.log").write_text(dpkg_line(now - timedelta(days=20), "status", "installed man-db:amd64 2.11"))
    (log / "dpkg.log.1").write_text(dpkg_line(now - timedelta(days=60), "install", "jq:amd64 <none> 1.6"))
    with gzip.open(log / "dpkg.log.2.gz", "wt") as fh:
        fh.write(dpkg_line(now - timedelta(days=120), "upgrade", "libssl3:amd64 3.0.1 3.0.2"))
        fh.write(dpkg_line(now - timedelta(days=100), "upgrade", "openssl:amd64 3.0.1 3.0.2"))
    last = apt_root.run(CheckContext(now=now))["last_update"]
    assert last.status is Status.WARNING
    assert last.summary.startswith("no update installed for 100 d (limit 90 d): package openssl")
    assert metric(last, "since_update_seconds") == pytest.approx(100 * D, abs=2)
    assert apt_root.run(CheckContext(now=now), max_since_update="120d")["last_update"].status is Status.OK


def test_apt_no_upgrade_in_the_logs_kept(apt_root):
    apt_root.build(security=[], updates=[])
    now = datetime.now(UTC)
    (apt_root.root / "var/log/dpkg.log").write_text(
        dpkg_line(now - timedelta(days=95), "startup", "archives unpack")
        + dpkg_line(now - timedelta(days=95), "install", "hisclient:all <none> 1.0-1"))
    last = apt_root.run(CheckContext(now=now))["last_update"]
    assert last.status is Status.WARNING and "no update installed in the logs kept" in last.summary
    (apt_root.root / "var/log/dpkg.log").unlink()
    last = apt_root.run(CheckContext(now=now))["last_update"]
    assert last.status is Status.UNKNOWN and "dpkg.log does not exist" in last.summary


def test_apt_reboot_required_pending_past_the_limit_is_a_warning(apt_root):
    apt_root.build(security=[], updates=[])
    flag = apt_root.root / "run/reboot-required"
    flag.write_text("*** System restart required ***\n")
    (apt_root.root / "run/reboot-required.pkgs").write_text("linux-image-6.1.0-27-amd64\nlibc6\n")
    then = time.time() - 40 * D
    os.utime(flag, (then, then))
    reboot = apt_root.run(CheckContext())["reboot"]
    assert reboot.status is Status.WARNING
    assert reboot.summary.startswith("reboot pending for 40 d since ")
    assert "package libc6" in reboot.summary and reboot.details["reboot_pending"] is True
    assert apt_root.run(CheckContext(), max_security_age="60d")["reboot"].status is Status.OK


def test_apt_broken_status_file_is_unknown_with_apts_reason(apt_root):
    apt_root.build(security=[], updates=[])
    (apt_root.root / "var/lib/dpkg/status").write_text("Package: x\nStatus: nonsense\n\n\x00garbage")
    sec = apt_root.run(CheckContext())["security"]
    assert sec.status is Status.UNKNOWN and sec.summary.startswith("pending updates unknown: ")
    assert "E:" in sec.summary or "failed" in sec.summary


# --------------------------------------------------------------------------- missing tools, unknown OS

class FakeRun:
    """Answers commands as subprocess.run would, from (exit code, stdout) per command word."""

    def __init__(self, answers: dict[str, tuple[int, str] | Exception]):
        self.answers, self.calls = answers, []

    def __call__(self, argv, **kw):
        self.calls.append(argv)
        assert kw["timeout"] > 0 and kw["env"]["LC_ALL"] == "C"
        key = next((k for k in self.answers if k in " ".join(argv)), None)
        if key is None:
            raise FileNotFoundError(argv[0])
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        code, out = answer
        return subprocess.CompletedProcess(argv, code, out.encode(), b"")


def test_no_package_manager_is_unknown_with_the_reason():
    [r] = patches.run(params(), CheckContext(), which=lambda name: None, windows=False)
    assert r.status is Status.UNKNOWN and r.summary.startswith("no supported package manager found")


def test_apt_not_installed_and_apt_hanging_are_unknown():
    p = params(manager="apt")
    r = by_item(patches.run(p, CheckContext(), run=FakeRun({}), root="/nonexistent"))
    assert r["security"].status is Status.UNKNOWN and "apt-get is not installed" in r["security"].summary
    r = by_item(patches.run(p, CheckContext(), root="/nonexistent",
                            run=FakeRun({"apt-get": subprocess.TimeoutExpired("apt-get", 120)})))
    assert "apt-get gave no answer within 2 min" in r["security"].summary


# --------------------------------------------------------------------------- RHEL family (fixtures)

def rhel_run(**extra: tuple[int, str]) -> FakeRun:
    installtimes = "1768000000 openssl-libs-3.2.2-6.el9_7\n1769150000 tzdata-2025c-1.el9\n"
    return FakeRun({"updateinfo": (0, (FIXTURES / "patches_dnf_updateinfo.txt").read_text()),
                    "check-update": (100, (FIXTURES / "patches_dnf_check_update.txt").read_text()),
                    "rpm -qa": (0, installtimes), **extra})


def test_dnf_security_advisories_are_aged_from_their_date():
    now = datetime(2026, 1, 23, 6, 24, 25, tzinfo=UTC)
    fake = rhel_run(**{"needs-restarting": (1, "Core libraries or services have been updated since boot-up:\n"
                                                "  * kernel\n  * systemd\n\nReboot is required to fully "
                                                "utilize these updates.\n")})
    r = by_item(patches.run(params(manager="dnf"), CheckContext(now=now), run=fake,
                            which=lambda name: f"/usr/bin/{name}"))
    assert ["/usr/bin/dnf", "-C", "-v", "updateinfo", "list", "security", "available"] in fake.calls
    assert ["/usr/bin/dnf", "-C", "check-update"] in fake.calls
    sec = r["security"]
    assert sec.status is Status.WARNING, sec.summary
    assert sec.summary.startswith("2 security update(s) pending longer than 30 d (oldest 72.8 d): "
                                  "vim-minimal, systemd-udev")
    assert (metric(sec, "pending_security"), metric(sec, "pending_updates")) == (3, 4)
    rows = {row["name"]: row for row in sec.details["security_updates"]}
    assert rows["openssl-libs"]["source"] == "RHSA-2026:0412" and rows["openssl-libs"]["severity"] == "Important"
    assert rows["vim-minimal"]["candidate"] == "2:8.2.2637-23.el9_7" and rows["vim-minimal"]["since_is"] == \
        "published"
    assert metric(sec, "lists_age_seconds") == 27 * 60 + 43
    last = r["last_update"]
    assert last.status is Status.OK and "package tzdata-2025c-1.el9" in last.summary
    reboot = r["reboot"]
    assert reboot.status is Status.OK and "kernel" in reboot.summary and reboot.details["reboot_pending"]


def test_yum_without_dates_counts_from_first_sighting_and_no_reboot_tool():
    fake = FakeRun({"updateinfo": (0, (FIXTURES / "patches_yum_updateinfo.txt").read_text()),
                    "check-update": (0, ""), "rpm -qa": (0, "1500000000 python-2.7.5-76.el7\n")})
    r = by_item(patches.run(params(manager="yum"), CheckContext(), run=fake,
                            which=lambda name: f"/usr/bin/{name}" if name == "yum" else None))
    sec = r["security"]
    assert sec.status is Status.WARNING  # lists age unknown: no expiration line from yum
    assert metric(sec, "pending_security") == 2
    assert {row["source"] for row in sec.details["security_updates"]} == {"RHSA-2019:0997"}
    assert all(row["since_is"] == "first seen by this check" for row in sec.details["security_updates"])
    assert "reboot" not in r
    assert r["last_update"].status is Status.WARNING  # 2017: long ago


def test_dnf_failure_is_unknown_with_dnfs_message():
    fake = FakeRun({"updateinfo": (1, "Error: Cache-only enabled but no cache for 'baseos'"),
                    "rpm -qa": (0, "")})
    r = by_item(patches.run(params(manager="dnf"), CheckContext(), run=fake, which=lambda name: None))
    assert r["security"].status is Status.UNKNOWN
    assert "Cache-only enabled but no cache for 'baseos'" in r["security"].summary
    assert r["last_update"].status is Status.UNKNOWN


@pytest.mark.parametrize(("line", "expected"), [
    ("openssl-libs-1:3.0.7-24.el9_5.x86_64", ("openssl-libs", "1:3.0.7-24.el9_5")),
    ("kernel-5.14.0-427.el9.x86_64", ("kernel", "5.14.0-427.el9")),
])
def test_nevra_names(line, expected):
    assert patches.nevra_name(line) == expected


# --------------------------------------------------------------------------- Windows (fixtures)

def windows_output() -> Any:
    return json.loads((FIXTURES / "patches_windows.json").read_text())


def test_windows_hotfixes_pending_security_and_pending_reboot():
    scripts: list[str] = []

    def powershell(script: str, timeout: float) -> Any:
        scripts.append(script)
        return windows_output()

    now = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    ctx = CheckContext(now=now)
    r = by_item(patches.run(params(), ctx, powershell=powershell, windows=True))
    [script] = scripts
    assert "$search = $true" in script and "Get-HotFix" in script
    for marker in ("Component Based Servicing\\RebootPending", "WindowsUpdate\\Auto Update\\RebootRequired",
                   "PendingFileRenameOperations"):
        assert marker in script
    sec = r["security"]
    assert sec.status is Status.WARNING, sec.summary
    assert sec.summary.startswith("1 security update(s) pending longer than 30 d (oldest 57.6 d): KB5044099")
    assert render(sec.message, "zh_CN").startswith("1 个安全更新待安装超过 30 天（最久 57.6 天）：KB5044099")
    assert render(sec.standard_message, "zh_CN") == "安全更新在 30 天内安装"
    assert metric(sec, "pending_security") == 2 and metric(sec, "pending_updates") == 3  # not the definitions
    assert metric(sec, "lists_age_seconds") == pytest.approx(12 * 3600 + 47 * 60 + 29, abs=1)
    last = r["last_update"]
    assert last.status is Status.OK and "Windows Update installation" in last.summary
    reboot = r["reboot"]
    assert reboot.status is Status.OK and reboot.details["evidence"] == ["ComponentBasedServicing",
                                                                          "WindowsUpdate"]
    # still pending a month later
    later = by_item(patches.run(params(), CheckContext(now=now + timedelta(days=31), state=ctx.state),
                                powershell=powershell, windows=True))
    assert later["reboot"].status is Status.WARNING and "installed updates are not in effect" in \
        later["reboot"].summary


def test_windows_without_search_has_no_security_item_and_old_hotfixes_warn():
    data = windows_output()
    data.update(Pending=None, WindowsUpdate=None, Reboot={"ComponentBasedServicing": False,
                                                          "WindowsUpdate": False,
                                                          "PendingFileRenameOperations": False})
    r = by_item(patches.run(params(windows_search=False), CheckContext(now=datetime(2027, 3, 1, tzinfo=UTC)),
                            powershell=lambda s, t: data, windows=True))
    assert set(r) == {"last_update", "reboot"}
    assert r["last_update"].status is Status.WARNING
    assert r["last_update"].summary.startswith("no update installed for 108.3 d (limit 90 d): KB5046615 "
                                               "(Security Update)")


def test_windows_search_failure_and_powershell_failure_are_unknown():
    data = windows_output()
    data.update(Pending=None, SearchError="Exception from HRESULT: 0x8024402C")
    r = by_item(patches.run(params(), CheckContext(), powershell=lambda s, t: data, windows=True))
    assert r["security"].status is Status.UNKNOWN and "0x8024402C" in r["security"].summary

    def broken(script: str, timeout: float) -> Any:
        raise _windows.WindowsError_("PowerShell gave no answer within 120 s")
    [r] = patches.run(params(), CheckContext(), powershell=broken, windows=True)
    assert r.status is Status.UNKNOWN and r.summary == "windows: PowerShell gave no answer within 120 s"


def test_powershell_failures_are_keyed_texts_that_keep_the_windows_words():
    def hung(*args: Any, **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired("powershell.exe", 120)

    def failed(*args: Any, **kwargs: Any) -> Any:  # a zh-CN Windows' error line (UTF-8: the prelude asks for it)
        return subprocess.CompletedProcess([], 1, b"", "Get-HotFix : 拒绝访问。".encode())

    with pytest.raises(_windows.WindowsError_) as hang:
        _windows.powershell_json("Get-HotFix", 120, run=hung)
    assert hang.value.message == "PowerShell gave no answer within 2 min"
    assert render(hang.value.message.message, "zh_CN") == "PowerShell 在 2 分钟内无应答"
    [r] = patches.run(params(), CheckContext(), powershell=lambda s, t: _windows.powershell_json(s, t, run=failed),
                      windows=True)
    assert r.summary == "windows: PowerShell failed (exit 1): Get-HotFix : 拒绝访问。"
    assert render(r.message, "zh_CN") == "windows：PowerShell 执行失败（退出码 1）：Get-HotFix : 拒绝访问。"


@pytest.mark.parametrize(("value", "expected"), [
    ("/Date(1697587200000)/", datetime(2023, 10, 18, tzinfo=UTC)),
    ({"value": "/Date(1697587200000)/", "DateTime": "Wednesday, October 18, 2023 12:00:00 AM"},
     datetime(2023, 10, 18, tzinfo=UTC)),
    ("2023-10-18T00:00:00Z", datetime(2023, 10, 18, tzinfo=UTC)),
    ("/Date(-62135596800000)/", None),
    (None, None),
])
def test_powershell_dates(value, expected):
    assert _windows.ps_datetime(value) == expected
