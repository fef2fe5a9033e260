"""offsite_copy against a real OpenSSH server on loopback (tests/checks/sshd.py), over real SFTP."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime

import pytest

from checks import offsite_copy
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.sshd import keygen, sshd  # noqa: F401 - the fixture
from tests.conftest import free_port

HOUR = 3600.0


@pytest.fixture
def dirs(tmp_path):
    local, remote = tmp_path / "local", tmp_path / "offsite"
    local.mkdir()
    remote.mkdir()
    return local, remote


def put(directory: pathlib.Path, name: str, size: int, mtime: float) -> pathlib.Path:
    p = directory / name
    p.write_bytes(b"b" * size)
    os.utime(p, (mtime, mtime))
    return p


def check(server, local: pathlib.Path, remote: pathlib.Path, **kw) -> Result:
    raw = {"local_path": str(local), "pattern": "*.bak", "remote_host": server.host,
           "remote_port": server.port, "remote_user": server.user, "remote_path": str(remote),
           "key_file": str(server.client_key), "known_hosts": str(server.known_hosts),
           "max_delay": "2h", "connect_timeout": "5s", **kw}
    params = parse_params(offsite_copy.OffsiteCopyParams, {k: v for k, v in raw.items() if v is not None})
    [r] = offsite_copy.run(params, CheckContext(now=datetime.now(UTC)), zone=lambda: UTC)
    Result.from_wire(r.with_origin(site="s", host="h").to_wire())
    return r


def metric(r: Result, name: str) -> float | None:
    return next(m.value for m in r.metrics if m.name == name)


def test_offsite_ok_when_the_copy_is_there_with_the_same_size(sshd, dirs):  # noqa: F811
    local, remote = dirs
    t = time.time() - 5 * HOUR
    put(local, "HIS_old.bak", 100, t - 86400)
    put(local, "HIS_new.bak", 4096, t)
    put(remote, "HIS_new.bak", 4096, t + 600)
    r = check(sshd, local, remote)
    assert r.status is Status.OK, r.summary
    assert r.summary.startswith(f"HIS_new.bak is off-site on 127.0.0.1:{remote}, 4 KiB, same size, copied ")
    assert metric(r, "lag_seconds") == pytest.approx(600, abs=1)
    assert metric(r, "size_bytes") == metric(r, "remote_size_bytes") == 4096
    assert metric(r, "age_seconds") == pytest.approx(5 * HOUR - 600, abs=60)
    assert r.details["remote_file"] == f"{remote}/HIS_new.bak"
    assert r.standard == "same-size copy on 127.0.0.1 within 2 h"


def test_offsite_critical_when_the_copy_is_partial_after_the_delay(sshd, dirs):  # noqa: F811
    local, remote = dirs
    t = time.time() - 3 * HOUR
    put(local, "HIS.bak", 4 << 20, t)
    put(remote, "HIS.bak", 1 << 20, t + 60)
    r = check(sshd, local, remote)
    assert r.status is Status.CRITICAL
    assert r.summary.startswith("copy incomplete: 1 MiB of 4 MiB, HIS.bak on 127.0.0.1:")


def test_offsite_ok_while_a_partial_copy_is_still_within_the_delay(sshd, dirs):  # noqa: F811
    local, remote = dirs
    t = time.time() - 600
    put(local, "HIS.bak", 4 << 20, t)
    put(remote, "HIS.bak", 1 << 20, t + 60)
    r = check(sshd, local, remote)
    assert r.status is Status.OK and r.summary.startswith("copy in progress: 1 MiB of 4 MiB")


def test_offsite_ok_pending_when_the_copy_is_absent_but_not_yet_due(sshd, dirs):  # noqa: F811
    local, remote = dirs
    put(local, "HIS.bak", 4096, time.time() - 1800)
    r = check(sshd, local, remote)
    assert r.status is Status.OK
    assert r.summary.startswith("copy pending, due by ") and "HIS.bak (4 KiB, 30 min old)" in r.summary
    assert metric(r, "remote_size_bytes") is None


def test_offsite_critical_when_the_copy_is_absent_after_the_delay(sshd, dirs):  # noqa: F811
    local, remote = dirs
    t = time.time() - 26 * HOUR
    put(local, "HIS_1.bak", 4096, t - 86400)
    put(remote, "HIS_1.bak", 4096, t - 86400 + 60)
    put(local, "HIS_2.bak", 4096, t)
    r = check(sshd, local, remote)
    assert r.status is Status.CRITICAL
    assert r.summary.startswith(f"no off-site copy of HIS_2.bak on 127.0.0.1:{remote} (due by ")
    assert "; newest off-site copy is HIS_1.bak from " in r.summary
    assert metric(r, "lag_seconds") == pytest.approx(26 * HOUR, abs=60)
    assert metric(r, "age_seconds") == pytest.approx(50 * HOUR - 60, abs=60)


def test_offsite_critical_when_the_remote_file_is_bigger(sshd, dirs):  # noqa: F811
    local, remote = dirs
    t = time.time() - 3 * HOUR
    put(local, "HIS.bak", 1000, t)
    put(remote, "HIS.bak", 2000, t)
    r = check(sshd, local, remote)
    assert r.status is Status.CRITICAL and r.summary.startswith("copy differs: HIS.bak")


def _fingerprint(pub: pathlib.Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], capture_output=True,
                         text=True, check=True).stdout
    return out.split()[1]


def test_offsite_critical_with_the_fingerprint_when_the_host_key_is_unknown(sshd, dirs, tmp_path):  # noqa: F811
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    r = check(sshd, local, remote, known_hosts=str(empty))
    fp = _fingerprint(sshd.host_key_pub)
    pub = sshd.host_key_pub.read_text().split()
    line = f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}"
    assert r.status is Status.CRITICAL
    assert r.summary.startswith(f"unknown host key for 127.0.0.1:{sshd.port}: ssh-ed25519 {fp}; ")
    assert r.summary.endswith(f"add this line to {empty}: {line}")
    assert r.details["fingerprint"] == fp and r.details["known_hosts_line"] == line
    assert empty.read_text() == ""  # never added


def test_offsite_critical_mismatch_when_known_hosts_has_another_key(sshd, dirs, tmp_path):  # noqa: F811
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    other = keygen(tmp_path / "other_host")
    pub = other.with_suffix(".pub").read_text().split()
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    r = check(sshd, local, remote, known_hosts=str(kh))
    assert r.status is Status.CRITICAL
    assert r.summary.startswith(f"host key mismatch for 127.0.0.1:{sshd.port}: the server offers ssh-ed25519 "
                                f"{_fingerprint(sshd.host_key_pub)} but {kh} has ssh-ed25519 "
                                f"{_fingerprint(other.with_suffix('.pub'))}")
    assert "man-in-the-middle" in r.summary


def test_offsite_critical_when_the_user_key_is_refused(sshd, dirs, tmp_path):  # noqa: F811
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    stranger = keygen(tmp_path / "stranger")
    r = check(sshd, local, remote, key_file=str(stranger))
    assert r.status is Status.CRITICAL
    assert r.summary == f"authentication failed for {sshd.user}@127.0.0.1:{sshd.port} (key refused)"


def test_offsite_password_never_appears_in_the_result(sshd, dirs, tmp_path):  # noqa: F811
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    secret = "s3cret-Wardround-pw"
    pw = tmp_path / "pw"
    pw.write_text(secret + "\n")
    r = check(sshd, local, remote, key_file=None, password_file=str(pw))
    assert r.status is Status.CRITICAL and r.summary.startswith("authentication failed")
    assert secret not in str(r.to_wire())


def test_offsite_critical_when_the_port_is_closed(dirs, tmp_path):
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    key, kh = tmp_path / "k", tmp_path / "kh"
    key.write_text("")
    kh.write_text("")
    port = free_port()
    params = offsite_copy.OffsiteCopyParams(
        local_path=str(local), pattern="*.bak", remote_host="127.0.0.1", remote_port=port,
        remote_user="backup", remote_path="/offsite", password_file=str(key), known_hosts=str(kh))
    [r] = offsite_copy.run(params, CheckContext())
    assert r.status is Status.CRITICAL
    assert r.summary == f"connection refused by 127.0.0.1:{port} (is sshd running?)"


def test_offsite_critical_when_the_server_never_sends_a_banner(dirs, tmp_path):
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    (tmp_path / "pw").write_text("x")
    (tmp_path / "kh").write_text("")
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    try:
        params = offsite_copy.OffsiteCopyParams(
            local_path=str(local), pattern="*.bak", remote_host="127.0.0.1",
            remote_port=port, remote_user="backup", remote_path="/offsite",
            password_file=str(tmp_path / "pw"), known_hosts=str(tmp_path / "kh"), connect_timeout=0.5)
        t0 = time.monotonic()
        [r] = offsite_copy.run(params, CheckContext())
        assert time.monotonic() - t0 < 5
    finally:
        silent.close()
        for s in accepted:
            s.close()
    assert r.status is Status.CRITICAL
    assert r.summary == (f"no SSH handshake from 127.0.0.1:{port} within 500 ms "
                         "(not an SSH server, or overloaded)")
    assert render(r.message, "zh_CN") == f"127.0.0.1:{port} 在 500 ms内没有完成 SSH 握手（不是 SSH 服务器，或负载过高）"


def test_offsite_unknown_when_known_hosts_cannot_be_read(sshd, dirs, tmp_path):  # noqa: F811
    local, remote = dirs
    put(local, "HIS.bak", 10, time.time() - 3 * HOUR)
    r = check(sshd, local, remote, known_hosts=str(tmp_path / "missing"))
    assert r.status is Status.UNKNOWN
    assert r.summary == f"known_hosts {tmp_path / 'missing'} cannot be read: No such file or directory"


def test_offsite_unknown_when_no_local_backup_matches(dirs):
    local, _ = dirs
    params = offsite_copy.OffsiteCopyParams(
        local_path=str(local), pattern="*.bak", remote_host="nas", remote_user="b", remote_path="/o",
        key_file="/k", known_hosts="/kh")
    [r] = offsite_copy.run(params, CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith(f"no local backup matches *.bak in {local}")


def test_offsite_critical_when_the_local_directory_is_missing(tmp_path):
    params = offsite_copy.OffsiteCopyParams(
        local_path=str(tmp_path / "gone"), remote_host="nas", remote_user="b", remote_path="/o",
        key_file="/k", known_hosts="/kh")
    [r] = offsite_copy.run(params, CheckContext())
    assert r.status is Status.CRITICAL and r.summary == f"backup directory {tmp_path / 'gone'} does not exist"


@pytest.mark.parametrize(("drop", "key"), [
    ("remote_host", "remote_host"), ("known_hosts", "known_hosts"), ("key_file", "key_file"),
])
def test_offsite_params_name_what_is_missing(drop, key):
    raw = {"local_path": "/b", "remote_host": "nas", "remote_user": "u", "remote_path": "/o",
           "key_file": "/k", "known_hosts": "/kh"}
    del raw[drop]
    with pytest.raises(ParamError) as err:
        parse_params(offsite_copy.OffsiteCopyParams, raw)
    assert err.value.errors[0][0] == key


def test_offsite_params_defaults():
    p = parse_params(offsite_copy.OffsiteCopyParams, {"local_path": "/b", "remote_host": "nas",
                     "remote_user": "u", "remote_path": "/o", "password_file": "/p", "known_hosts": "/kh"})
    assert p.remote_port == 22 and p.max_delay == 7200 and p.connect_timeout == 10
