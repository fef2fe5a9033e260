"""antivirus tests.

ClamAV for real: this machine's ``sigtool`` builds a signature database (a ``.cud`` with a real
ClamAV-VDB header), a real ``clamd`` loads it and runs, and a real ``freshclam`` writes a failing
run into its log (its mirror is a closed local port).  A stale database gets a header written
from the documented format, which the real ``sigtool --info`` must read back.  Windows (Defender,
Security Center) from fixtures (``fixtures/antivirus_fixtures.source``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from checks import _windows, antivirus
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.unprivileged import run_check_as
from tests.conftest import missing

FIXTURES = Path(__file__).parent / "fixtures"
D = 86400


def params(**raw: Any) -> antivirus.AntivirusParams:
    return parse_params(antivirus.AntivirusParams, raw)


def metric(r: Result, name: str) -> float | None:
    return next(m.value for m in r.metrics if m.name == name)


def need(*tools: str) -> None:
    for tool in tools:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            missing("ClamAV", f"{tool} not found (apt-get install clamav clamav-daemon)")


def vdb_header(built: datetime, version: int = 27100, sigs: int = 2070000) -> bytes:
    """A header in sigtool's format: ``ClamAV-VDB:%d %b %Y %H-%M %z:version:sigs:flevel:md5:dsig:builder:stime``."""
    text = (f"ClamAV-VDB:{built.strftime('%d %b %Y %H-%M %z')}:{version}:{sigs}:90:X:X:wardround:"
            f"{int(built.timestamp())}")
    return text.encode().ljust(512, b" ")


@pytest.fixture(scope="module")
def built_db(tmp_path_factory) -> Path:
    """A real signature database built by sigtool now: daily.cud, version 27850, one hash signature."""
    need("sigtool")
    work = tmp_path_factory.mktemp("sigtool")
    (work / "COPYING").write_text("test database\n")
    # the EICAR test file's MD5 and size: a real, harmless hash signature
    (work / "daily.hdb").write_text("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
    proc = subprocess.run(["sigtool", "--build=daily.cud", "--unsigned", "--cvd-version=27850", "--no-cdiff",
                           f"--datadir={work}"], cwd=work, input="\n", capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SIGNDUSER": "wardround"})
    assert (work / "daily.cud").exists(), proc.stdout + proc.stderr
    db = tmp_path_factory.mktemp("clamav_db")
    shutil.copy(work / "daily.cud", db / "daily.cud")
    return db


@pytest.fixture(scope="module")
def clamd(built_db: Path) -> Iterator[Path]:
    """A real clamd loading ``built_db``; stopped by its PID at the end."""
    need("clamd")
    run_dir = built_db.parent / "clamd-run"
    run_dir.mkdir(exist_ok=True)
    conf = run_dir / "clamd.conf"
    conf.write_text(f"DatabaseDirectory {built_db}\nLocalSocket {run_dir}/clamd.sock\nForeground yes\n"
                    f"LogFile {run_dir}/clamd.log\nUser root\n")
    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    proc = subprocess.Popen([binary, f"--config-file={conf}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if (run_dir / "clamd.sock").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not (run_dir / "clamd.sock").exists():
            log = (run_dir / "clamd.log").read_text(errors="replace") if (run_dir / "clamd.log").exists() else ""
            pytest.fail(f"clamd did not start:\n{log[-2000:]}")
        yield built_db
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- parameters

def test_antivirus_defaults_and_catalogue():
    p = antivirus.AntivirusParams()
    assert p.max_signature_age == 3 * D and p.clamav_db == "/var/lib/clamav" and p.require_clamd
    assert get_check("antivirus").params is antivirus.AntivirusParams
    with pytest.raises(ParamError) as err:
        params(max_signature_age=0)
    assert err.value.errors[0][0] == "max_signature_age"


# --------------------------------------------------------------------------- ClamAV (real)

def test_clamav_ok_with_a_real_database_and_clamd_running(clamd):
    [r] = antivirus.run(params(clamav_db=str(clamd), freshclam_log="/nonexistent"), CheckContext())
    assert r.item == "clamav" and r.status is Status.OK, r.summary
    assert r.summary.startswith("ClamAV: signatures daily.cud version 27850 built ")
    assert r.summary.endswith("clamd running")
    assert r.standard == "enabled, real-time on, signatures younger than 3 d"
    assert r.details["clamd_running"] is True
    [db] = r.details["databases"]
    assert (db["file"], db["version"], db["signatures"], db["builder"]) == ("daily.cud", 27850, 1, "wardround")
    assert metric(r, "signature_age_seconds") < 600


def test_clamav_clamd_not_running_is_critical(built_db):
    [r] = antivirus.run(params(clamav_db=str(built_db), freshclam_log="/nonexistent"), CheckContext(),
                        processes=lambda: ["sshd", "clamscan", "freshclam"])
    assert r.status is Status.CRITICAL and r.summary == "ClamAV: clamd is not running"
    [r] = antivirus.run(params(clamav_db=str(built_db), freshclam_log="/nonexistent", require_clamd=False),
                        CheckContext(), processes=lambda: [])
    assert r.status is Status.OK and r.summary.endswith("clamd not required")


def test_clamav_stale_signatures_are_a_warning_and_sigtool_reads_the_same_header(tmp_path):
    need("sigtool")
    built = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    (tmp_path / "main.cvd").write_bytes(vdb_header(built) + b"\x1f\x8b")
    info = subprocess.run(["sigtool", f"--info={tmp_path / 'main.cvd'}"], capture_output=True, text=True,
                          timeout=30)
    assert "Build time: 01 Nov 2026 03:00 +0000" in info.stdout and "Version: 27100" in info.stdout
    now = built + timedelta(days=5)
    [r] = antivirus.run(params(clamav_db=str(tmp_path), freshclam_log="/nonexistent"), CheckContext(now=now),
                        processes=lambda: ["clamd"])
    assert r.status is Status.WARNING
    assert r.summary == "ClamAV: signatures 5 d old (limit 3 d)"
    assert render(r.message, "zh_CN") == "ClamAV：病毒库已有 5 天（上限 3 天）"
    assert metric(r, "signature_age_seconds") == 5 * D
    assert r.details["signatures_built"] == "2026-11-01T03:00:00.000000Z"


def test_clamav_freshclams_last_run_from_a_real_failing_freshclam(built_db, tmp_path):
    need("freshclam")
    log = tmp_path / "freshclam.log"
    log.write_text((FIXTURES / "antivirus_freshclam_ok.log").read_text())
    conf = tmp_path / "freshclam.conf"
    (tmp_path / "db").mkdir()
    conf.write_text(f"DatabaseDirectory {tmp_path / 'db'}\nUpdateLogFile {log}\nLogTime yes\nDatabaseOwner root\n"
                    "PrivateMirror http://127.0.0.1:9\nConnectTimeout 2\nReceiveTimeout 2\nMaxAttempts 1\n")
    subprocess.run(["freshclam", f"--config-file={conf}"], capture_output=True, timeout=60)
    [r] = antivirus.run(params(clamav_db=str(built_db), freshclam_log=str(log)), CheckContext(),
                        processes=lambda: ["clamd"])
    assert r.status is Status.OK  # the signatures are fresh: a failed update alone is a note
    assert "freshclam's last run failed at " in r.summary and "Update failed." in r.summary
    fc = r.details["freshclam"]
    assert fc["last_run_ok"] is False and fc["last_success"] == \
        datetime(2026, 5, 16, 17, 48, 53).astimezone().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_clamav_installed_without_signatures_is_critical(tmp_path):
    (tmp_path / "freshclam.dat").write_bytes(b"\x00" * 16)
    [r] = antivirus.run(params(clamav_db=str(tmp_path), freshclam_log="/nonexistent"), CheckContext(),
                        processes=lambda: [])
    assert r.status is Status.CRITICAL and "no usable signature database" in r.summary
    (tmp_path / "daily.cld").write_bytes(b"<html>proxy error</html>")
    [r] = antivirus.run(params(clamav_db=str(tmp_path), freshclam_log="/nonexistent"), CheckContext(),
                        processes=lambda: ["clamd"])
    assert r.status is Status.CRITICAL and "daily.cld: not a ClamAV database" in r.summary
    [r] = antivirus.run(params(clamav_db=str(tmp_path / "gone")), CheckContext(),
                        which=lambda t: "/usr/bin/clamscan" if t == "clamscan" else None)
    assert r.status is Status.CRITICAL and "does not exist: no signatures" in r.summary


def test_no_antivirus_found_is_unknown_not_ok(tmp_path):
    [r] = antivirus.run(params(clamav_db=str(tmp_path / "none")), CheckContext(), which=lambda t: None)
    assert r.status is Status.UNKNOWN and r.summary.startswith("no antivirus found")


def test_clamav_database_directory_unreadable_is_unknown_with_the_reason(tmp_path):
    db = tmp_path / "clamav"
    db.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
    [r] = run_check_as("nobody", "antivirus", {"clamav_db": str(db)})
    assert r["status"] == 3 and r["summary"] == f"cannot read {db}: permission denied (the agent's user " \
                                                "needs read access)"


def test_antivirus_judges_this_machine():
    [r] = antivirus.run(params(), CheckContext())
    installed = any(shutil.which(t) for t in ("clamd", "clamscan", "freshclam"))
    if not os.path.isdir("/var/lib/clamav") and not installed:
        assert r.status is Status.UNKNOWN and r.summary.startswith("no antivirus found")
    else:
        assert r.item == "clamav" and r.status in (Status.OK, Status.WARNING, Status.CRITICAL)
        assert r.summary.startswith("ClamAV: ")


def test_cvd_header_of_an_old_database_without_build_seconds():
    # a real daily.cvd header of April 2020 (version 25784), cut after the digital signature
    raw = (b"ClamAV-VDB:16 Apr 2020 07-58 -0400:25784:2267600:63:92baacd59fd26e6bcf03077add78d209:"
           b"4Jp9JtGJY6nUk8JHDQQpQeBwlfXqskvhXL").ljust(512, b" ")
    h = antivirus.parse_cvd_header(raw, "daily.cvd")
    assert (h.version, h.signatures) == (25784, 2267600)
    assert h.built == datetime(2020, 4, 16, 11, 58, tzinfo=UTC)


# --------------------------------------------------------------------------- Windows (fixtures)

def windows(name: str, **changes: Any) -> Any:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    for key, value in changes.items():
        data["Defender"][key] = value
    return data


def win_run(data: Any, now: datetime, **raw: Any) -> list[Result]:
    scripts = []

    def powershell(script: str, timeout: float) -> Any:
        scripts.append(script)
        return data
    results = antivirus.run(params(**raw), CheckContext(now=now), powershell=powershell, platform="win32")
    assert "Get-MpComputerStatus" in scripts[0] and "root/SecurityCenter2" in scripts[0]
    return results


SIG_UPDATED = datetime(2022, 10, 18, 9, 18, 29, tzinfo=UTC)


def test_defender_ok_on_a_server_without_security_center():
    [r] = win_run(windows("antivirus_windows_server.json"), SIG_UPDATED + timedelta(hours=20))
    assert r.item == "defender" and r.status is Status.OK, r.summary
    assert r.summary.startswith("Microsoft Defender: enabled, real-time on, signatures 1.377.418.0 of ")
    assert metric(r, "realtime") == 1 and metric(r, "signature_age_seconds") == 20 * 3600
    assert r.details["product_version"] == "4.18.2209.7"


@pytest.mark.parametrize(("changes", "status", "words"), [
    ({}, Status.WARNING, "signatures 6 d old (limit 3 d)"),
    ({"RealTimeProtectionEnabled": False}, Status.WARNING, "real-time protection is off"),
    ({"AMServiceEnabled": False}, Status.CRITICAL, "the antimalware service is disabled"),
    ({"AntivirusEnabled": False}, Status.CRITICAL, "antivirus protection is disabled"),
    ({"DefenderSignaturesOutOfDate": True}, Status.WARNING, "Defender reports its signatures out of date"),
])
def test_defender_findings(changes, status, words):
    now = SIG_UPDATED + (timedelta(days=6) if not changes else timedelta(hours=5))
    [r] = win_run(windows("antivirus_windows_server.json", **changes), now)
    assert r.status is status and words in r.summary, r.summary


def test_passive_defender_and_a_third_party_product_from_security_center():
    [r] = win_run(windows("antivirus_windows_client.json"), datetime(2024, 5, 23, 13, 0, tzinfo=UTC))
    assert r.item == "360杀毒" and r.status is Status.WARNING
    assert r.summary == "360杀毒: signatures out of date (Security Center)"
    assert render(r.message, "zh_CN") == "360杀毒：病毒库已过期（Security Center）"
    assert r.details["product_state"] == {"product": "on", "signatures": "out of date", "owner": "third party",
                                          "hex": "0x041010"}


def test_windows_with_nothing_is_unknown_no_antivirus_found():
    data = {"Defender": None, "DefenderError": "Invalid class", "SecurityCenter": None,
            "SecurityCenterError": "Invalid namespace"}
    [r] = win_run(data, datetime.now(UTC))
    assert r.status is Status.UNKNOWN
    assert r.summary == "no antivirus found (Defender: Invalid class; no Security Center (a server edition))"

    def broken(script: str, timeout: float) -> Any:
        raise _windows.WindowsError_("powershell.exe not found (Windows PowerShell 5.1 is needed)")
    [r] = antivirus.run(params(), CheckContext(), powershell=broken, platform="win32")
    assert r.status is Status.UNKNOWN and "powershell.exe not found" in r.summary


@pytest.mark.parametrize(("state", "product", "signatures", "owner"), [
    (397568, "on", "up to date", "Windows"),        # 0x061100
    (393472, "off", "up to date", "Windows"),       # 0x060100
    (266240, "on", "up to date", "third party"),    # 0x041000
    (262160, "off", "out of date", "third party"),  # 0x040010
    (397584, "on", "out of date", "Windows"),       # 0x061110
])
def test_security_center_product_state_decoding(state, product, signatures, owner):
    d = antivirus.decode_product_state(state)
    assert (d["product"], d["signatures"], d["owner"]) == (product, signatures, owner)


def test_unknown_operating_system_is_unknown():
    [r] = antivirus.run(params(), CheckContext(), platform="freebsd14")
    assert r.status is Status.UNKNOWN and "freebsd14" in r.summary
