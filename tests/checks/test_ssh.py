"""ssh: df, uptime and a Nagios-style command over a real OpenSSH server on loopback.

The server is ``tests/checks/sshd.py``'s sshd; ``df`` and ``uptime`` run for
real on this machine through it.  The parsers are also tested against
captured outputs of GNU coreutils, procps-ng and BusyBox
(``tests/checks/fixtures/ssh_*``, origins in ``ssh_fixtures.source``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checks import _ssh, ssh
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.sshd import keygen, sshd  # noqa: F401 - the fixture
from tests.conftest import free_port

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def run_check(server: Any, timeout_s: float = 60.0, **kw: Any) -> list[Result]:
    raw = {"target": server.host, "port": server.port, "user": server.user,
           "key_file": str(server.client_key), "known_hosts": str(server.known_hosts),
           "connect_timeout": "5s", **kw}
    params = parse_params(ssh.SshParams, {k: v for k, v in raw.items() if v is not None})
    results = ssh.run(params, CheckContext(now=datetime.now(UTC), timeout_s=timeout_s))
    for r in results:  # every result is valid on the wire
        Result.from_wire(r.with_origin(site="s", host="remote-box").to_wire())
    return results


def by_item(results: list[Result]) -> dict[str, Result]:
    return {r.item: r for r in results}


def metric(r: Result, name: str) -> float | None:
    return next(m.value for m in r.metrics if m.name == name)


def accepted_logins(server: Any) -> int:
    return len(re.findall(r"Accepted publickey for", server.log()))


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    """A Nagios-style plugin: prints a summary with perfdata, exits 1 (WARNING)."""
    script = tmp_path / "check_disk_remote"
    script.write_text("#!/bin/sh\n"
                      "echo 'DISK WARNING - /data 85% used | used=85%;80;90;0;100 free=1.5GB;;;0'\n"
                      "echo '/data is on /dev/sdb1'\n"
                      "exit 1\n")
    script.chmod(0o755)
    return script


# --- against the real sshd ------------------------------------------------------

def test_ssh_df_and_uptime_measured_for_real_when_the_host_answers(sshd):  # noqa: F811
    before = accepted_logins(sshd)
    results = run_check(sshd)
    items = by_item(results)
    assert accepted_logins(sshd) == before + 1  # one connection for every probe
    root = items["df:/"]
    assert root.check == "ssh" and root.status is Status.OK, root.summary
    assert [m.name for m in root.metrics] == ["used_percent", "free_bytes", "total_bytes"]  # as `disk`
    st = os.statvfs("/")
    local_pct = 100 * (st.f_blocks - st.f_bfree) / (st.f_blocks - st.f_bfree + st.f_bavail)
    assert metric(root, "used_percent") == pytest.approx(local_pct, abs=0.5)
    assert metric(root, "total_bytes") == pytest.approx(st.f_blocks * st.f_frsize, rel=0.001)
    assert root.details["fstype"] and root.details["command"] == "env LC_ALL=C df -kPT"
    df_items = [r for r in results if r.item.startswith("df:")]
    assert all(r.details.get("fstype") not in ("tmpfs", "devtmpfs") for r in df_items)
    up = items["uptime"]
    local_up = float(Path("/proc/uptime").read_text().split()[0])
    assert up.status is Status.OK and up.summary.startswith("up ")
    assert metric(up, "uptime_seconds") == pytest.approx(local_up, abs=30)
    assert metric(up, "load1") is not None and up.details["source"] == "/proc/uptime"


def test_ssh_df_warns_and_goes_critical_at_the_thresholds_when_used_space_is_high(sshd):  # noqa: F811
    r = by_item(run_check(sshd, probes=["df"], mounts=["/"], warn=1, crit=99))["df:/"]
    assert r.status is Status.WARNING and r.standard == "used < 1 %"
    r = by_item(run_check(sshd, probes=["df"], mounts=["/"], warn=1, crit=2))["df:/"]
    assert r.status is Status.CRITICAL
    assert next(m for m in r.metrics if m.name == "used_percent").crit == 2


def test_ssh_df_critical_when_a_listed_mount_is_not_mounted(sshd):  # noqa: F811
    results = by_item(run_check(sshd, probes=["df"], mounts=["/", "/srv/backup-not-there"]))
    assert results["df:/"].status is Status.OK
    missing = results["df:/srv/backup-not-there"]
    assert missing.status is Status.CRITICAL
    assert missing.summary == "/srv/backup-not-there is not mounted (not in df's output)"


def test_ssh_command_warning_with_metrics_when_the_plugin_exits_1(sshd, plugin):  # noqa: F811
    [r] = run_check(sshd, command=[str(plugin)], probes=["command"])
    assert r.item == "command:check_disk_remote"
    assert r.status is Status.WARNING
    assert r.summary == "DISK WARNING - /data 85% used"
    used = next(m for m in r.metrics if m.name == "used")
    assert (used.value, used.unit, used.warn, used.crit, used.min, used.max) == (85, "%", 80, 90, 0, 100)
    assert metric(r, "free") == 1.5 * 1024**3
    assert r.details["long_output"] == ["/data is on /dev/sdb1"]
    assert r.details["exit_code"] == 1


def test_ssh_command_arguments_reach_the_plugin_unchanged_when_they_hold_shell_text(sshd, tmp_path):  # noqa: F811
    marker = tmp_path / "injected"
    echo = tmp_path / "echo_args"
    echo.write_text('#!/bin/sh\nprintf "OK - %s" "$#"; for a in "$@"; do printf " [%s]" "$a"; done; echo\n')
    echo.chmod(0o755)
    args = ["two words", f"$(touch {marker})", "; touch " + str(marker), "it's", "*"]
    [r] = run_check(sshd, command=[str(echo), *args], command_name="echo", probes=["command"])
    assert r.status is Status.OK and r.item == "command:echo"
    assert r.summary == "OK - 5 " + " ".join(f"[{a}]" for a in args)
    assert not marker.exists()


def test_ssh_command_masks_password_options_in_the_result_when_they_are_passed(sshd, plugin):  # noqa: F811
    [r] = run_check(sshd, command=[str(plugin), "--password", "s3cret-pw", "--community=public1"],
                    probes=["command"])
    assert r.status is Status.WARNING
    assert r.details["command"] == [str(plugin), "--password", "***", "--community=***"]
    assert "s3cret-pw" not in str(r.to_wire()) and "public1" not in str(r.to_wire())


def test_ssh_command_unknown_when_the_program_is_missing(sshd):  # noqa: F811
    [r] = run_check(sshd, command=["/nonexistent/check_thing", "-w", "1"], probes=["command"])
    assert r.status is Status.UNKNOWN
    assert r.summary.startswith("command:check_thing: exit code 127 (command not found): ")


def test_ssh_command_unknown_within_its_timeout_when_the_plugin_hangs(sshd, tmp_path):  # noqa: F811
    t0 = time.monotonic()
    [r] = run_check(sshd, command=["sleep", "30"], probes=["command"], command_timeout="0.5s")
    assert time.monotonic() - t0 < 5
    assert r.status is Status.UNKNOWN
    assert re.fullmatch(r"command:sleep: no answer within 5\d\d(\.\d)? ms", r.summary), r.summary


def test_ssh_all_probes_share_one_connection_when_a_command_is_configured(sshd, plugin):  # noqa: F811
    before = accepted_logins(sshd)
    results = run_check(sshd, command=[str(plugin)])
    assert accepted_logins(sshd) == before + 1
    items = by_item(results)
    assert "uptime" in items and "df:/" in items
    assert items["command:check_disk_remote"].status is Status.WARNING


def test_ssh_uptime_warns_rebooted_recently_when_up_less_than_min_uptime(sshd):  # noqa: F811
    [r] = run_check(sshd, probes=["uptime"], min_uptime="10000d")
    assert r.status is Status.WARNING and r.summary.startswith("rebooted recently: up ")
    assert r.standard == "up at least 10000 d"
    [r] = run_check(sshd, probes=["uptime"], min_uptime="1s")
    assert r.status is Status.OK


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], capture_output=True,
                         text=True, check=True).stdout
    return out.split()[1]


def test_ssh_connection_critical_with_the_fingerprint_when_the_host_key_is_unknown(sshd, tmp_path):  # noqa: F811
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    [r] = run_check(sshd, known_hosts=str(empty))
    fp = _fingerprint(sshd.host_key_pub)
    assert (r.item, r.status) == ("connection", Status.CRITICAL)
    assert r.summary.startswith(f"unknown host key for 127.0.0.1:{sshd.port}: ssh-ed25519 {fp}; ")
    assert r.details["fingerprint"] == fp and r.details["failure"] == "unknown_host_key"
    assert empty.read_text() == ""  # never added


def test_ssh_connection_critical_when_the_key_is_refused(sshd, tmp_path):  # noqa: F811
    stranger = keygen(tmp_path / "stranger")
    [r] = run_check(sshd, key_file=str(stranger))
    assert (r.item, r.status) == ("connection", Status.CRITICAL)
    assert r.summary == f"authentication failed for {sshd.user}@127.0.0.1:{sshd.port} (key refused)"


def test_ssh_connection_critical_when_the_port_is_closed(tmp_path):
    (tmp_path / "kh").write_text("")
    (tmp_path / "pw").write_text("secret\n")
    port = free_port()
    params = ssh.SshParams(target="127.0.0.1", port=port, user="monitor", password_file=str(tmp_path / "pw"),
                           known_hosts=str(tmp_path / "kh"))
    [r] = ssh.run(params, CheckContext())
    assert (r.item, r.status) == ("connection", Status.CRITICAL)
    assert r.summary == f"connection refused by 127.0.0.1:{port} (is sshd running?)"
    assert r.details["failure"] == "refused" and "secret" not in str(r.to_wire())


def test_ssh_connection_unknown_when_known_hosts_cannot_be_read(sshd, tmp_path):  # noqa: F811
    [r] = run_check(sshd, known_hosts=str(tmp_path / "missing"))
    assert (r.item, r.status) == ("connection", Status.UNKNOWN)
    assert r.summary.startswith(f"known_hosts {tmp_path / 'missing'} cannot be read")


def test_ssh_unknown_when_no_target_is_configured():
    [r] = ssh.run(ssh.SshParams(), CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith("target: not configured")


def test_run_command_reports_exit_status_and_both_streams_when_run_on_a_real_server(sshd):  # noqa: F811
    client = _ssh.connect(sshd.host, sshd.port, sshd.user, known_hosts=str(sshd.known_hosts), timeout=5,
                          key_file=str(sshd.client_key))
    try:
        out = _ssh.run_command(client, "echo out; echo err >&2; exit 3", timeout=5)
        assert (out.exit_status, out.stdout, out.stderr, out.timed_out) == (3, "out\n", "err\n", False)
        big = _ssh.run_command(client, "head -c 300000 /dev/zero", timeout=10, max_bytes=1000)
        assert big.exit_status == 0 and len(big.stdout) == 1000 and big.truncated
    finally:
        client.close()


def test_run_command_ends_within_a_second_when_the_connection_is_closed_under_it(sshd):  # noqa: F811
    """What the check's watchdog does at its deadline: no hang, no exception but SshFailure."""
    client = _ssh.connect(sshd.host, sshd.port, sshd.user, known_hosts=str(sshd.known_hosts), timeout=5,
                          key_file=str(sshd.client_key))
    closer = threading.Timer(0.3, client.close)
    closer.start()
    t0 = time.monotonic()
    try:
        out = _ssh.run_command(client, "sleep 10", timeout=20)
    except _ssh.SshFailure as exc:
        assert exc.kind == "ssh_error"
    else:
        assert out.exit_status is None and not out.timed_out
    finally:
        closer.cancel()
        client.close()
    assert time.monotonic() - t0 < 1.5


# --- unknown output through the seam: the remote side printing what no parser knows ---------

class _FakeClient:
    def close(self) -> None:
        pass


def _scripted(outputs: dict[str, _ssh.CommandOutput]) -> Any:
    def run_command(client: Any, command: str, *, timeout: float) -> _ssh.CommandOutput:
        return outputs.get(command, _ssh.CommandOutput(127, "", f"sh: {command.split()[0]}: not found\n"))
    return run_command


def test_ssh_df_unknown_with_the_raw_text_when_df_prints_human_sizes():
    human = _ssh.CommandOutput(0, fixture("ssh_df_gnu_human.txt"), "")
    params = ssh.SshParams(target="nas", user="m", key_file="/k", known_hosts="/kh", probes=("df",))
    [r] = ssh.run(params, CheckContext(), connect=lambda *a, **k: _FakeClient(),
                  run_command=_scripted({c: human for c in ssh.DF_COMMANDS}))
    assert (r.item, r.status) == ("df", Status.UNKNOWN)
    assert r.summary.startswith("df: output not understood (df header names no block size")
    assert r.details["attempts"][0]["stdout"] == fixture("ssh_df_gnu_human.txt")


def test_ssh_df_falls_back_to_df_kP_when_df_has_no_type_option():
    outputs = {
        "env LC_ALL=C df -kPT": _ssh.CommandOutput(1, "", "df: invalid option -- 'T'\n"),
        "env LC_ALL=C df -kP": _ssh.CommandOutput(0, fixture("ssh_df_busybox_kP.txt"), ""),
    }
    params = ssh.SshParams(target="nas", user="m", key_file="/k", known_hosts="/kh", probes=("df",))
    items = by_item(ssh.run(params, CheckContext(), connect=lambda *a, **k: _FakeClient(),
                            run_command=_scripted(outputs)))
    assert set(items) == {"df:/", "df:/tmp/wrfx/nfs", "df:/tmp/wrfx/full", "df:/tmp/wrfx/scan archive"}
    assert items["df:/tmp/wrfx/full"].status is Status.CRITICAL  # 90.6 % used
    nfs = items["df:/tmp/wrfx/nfs"]
    assert nfs.details["device"] == "nas-hospital-backup-01.example.local:/export/his_backup"
    assert items["df:/"].details["command"] == "env LC_ALL=C df -kP"


def test_ssh_uptime_unknown_with_the_raw_text_when_nothing_parses():
    outputs = {ssh.UPTIME_COMMAND: _ssh.CommandOutput(
        0, "System up since boot\n", "cat: /proc/uptime: No such file or directory\n")}
    params = ssh.SshParams(target="nas", user="m", key_file="/k", known_hosts="/kh", probes=("uptime",))
    [r] = ssh.run(params, CheckContext(), connect=lambda *a, **k: _FakeClient(),
                  run_command=_scripted(outputs))
    assert (r.item, r.status) == ("uptime", Status.UNKNOWN)
    assert r.summary == "uptime: output not understood (neither /proc/uptime nor uptime could be read)"
    assert r.details["stdout"] == "System up since boot\n"


def test_ssh_uptime_reads_uptime_text_when_the_host_has_no_proc():
    text = "cat: /proc/uptime: No such file or directory\n"
    outputs = {ssh.UPTIME_COMMAND: _ssh.CommandOutput(0, fixture("ssh_uptime_procps_41days.txt"), text)}
    params = ssh.SshParams(target="nas", user="m", key_file="/k", known_hosts="/kh", probes=("uptime",))
    [r] = ssh.run(params, CheckContext(), connect=lambda *a, **k: _FakeClient(),
                  run_command=_scripted(outputs))
    assert r.status is Status.OK and r.details["source"] == "uptime"
    assert metric(r, "uptime_seconds") == 41 * 86400 + 16 * 3600 + 39 * 60 and metric(r, "load15") == 2.52


# --- parsers against captured output ------------------------------------------------

DF_FIXTURES = ["ssh_df_gnu_kPT.txt", "ssh_df_gnu_kP.txt", "ssh_df_gnu_posix_512.txt", "ssh_df_busybox_kP.txt",
               "ssh_df_busybox_kPT.txt", "ssh_df_busybox_k_wrapped.txt"]


@pytest.mark.parametrize("name", DF_FIXTURES)
def test_parse_df_reads_every_filesystem_when_given_captured_output(name):
    out = ssh.parse_df(fixture(name))
    rows = {r.mount: r for r in out.rows}
    assert out.unparsed == []
    assert list(rows) == ["/", "/dev/shm", "/tmp/wrfx/nfs", "/tmp/wrfx/full", "/tmp/wrfx/scan archive"]
    nfs = rows["/tmp/wrfx/nfs"]
    assert nfs.device == "nas-hospital-backup-01.example.local:/export/his_backup"
    assert (nfs.total_bytes, nfs.used_bytes, nfs.available_bytes) == (64 << 20, 40 << 20, 24 << 20)
    assert rows["/tmp/wrfx/full"].used_percent == pytest.approx(90.62, abs=0.01)
    assert rows["/"].fstype == ("ext4" if "kPT" in name else "")


def test_parse_df_keeps_a_mount_once_when_busybox_lists_it_twice():
    out = ssh.parse_df("Filesystem           1024-blocks    Used Available Capacity Mounted on\n"
                       "tmpfs                 24684096      2104  24681992   0% /dev/shm\n"
                       "tmpfs                 24684096      2104  24681992   0% /dev/shm\n")
    assert [r.mount for r in out.rows] == ["/dev/shm"]


@pytest.mark.parametrize("text", ["", "df: command not found\n", fixture("ssh_df_gnu_human.txt"),
                                  "Filesystem 1024-blocks Used Available Capacity Mounted on\n"])
def test_parse_df_raises_when_the_output_is_not_df_p(text):
    with pytest.raises(ssh.ParseError):
        ssh.parse_df(text)


def test_parse_df_lists_lines_it_cannot_read_when_they_are_mixed_in():
    text = fixture("ssh_df_gnu_kP.txt") + "df: /mnt/stale: Stale file handle\n"
    out = ssh.parse_df(text)
    assert len(out.rows) == 5 and out.unparsed == ["df: /mnt/stale: Stale file handle"]


@pytest.mark.parametrize(("name", "seconds"), [
    ("ssh_uptime_procps_minutes.txt", 9 * 60),
    ("ssh_uptime_procps_1day.txt", 86400 + 2 * 3600 + 42 * 60),
    ("ssh_uptime_procps_41days.txt", 41 * 86400 + 16 * 3600 + 39 * 60),
    ("ssh_uptime_busybox_1day_min.txt", 86400 + 32 * 60),
    ("ssh_uptime_procps_pretty.txt", 39 * 60),
])
def test_parse_uptime_reads_the_time_up_when_given_captured_output(name, seconds):
    up = ssh.parse_uptime(fixture(name))
    assert up.seconds == seconds
    if "pretty" not in name:
        assert up.load is not None and len(up.load) == 3 and up.load[0] > 0


@pytest.mark.parametrize(("line", "seconds", "load"), [
    # the formats of other systems' uptime, as their manual pages print them
    ("10:15  up 3 days,  2:11, 2 users, load averages: 1.92 2.04 2.10", 3 * 86400 + 2 * 3600 + 11 * 60,
     (1.92, 2.04, 2.10)),
    ("10:15am  up 120 day(s),  3:02,  1 user,  load average: 0.01, 0.02, 0.03",
     120 * 86400 + 3 * 3600 + 2 * 60, (0.01, 0.02, 0.03)),
    ("09:00  up 14 mins, 1 user, load averages: 0,52 0,41 0,30", 14 * 60, (0.52, 0.41, 0.30)),
])
def test_parse_uptime_reads_bsd_and_solaris_forms_when_they_differ(line, seconds, load):
    up = ssh.parse_uptime(line)
    assert up.seconds == seconds and up.load == pytest.approx(load)


@pytest.mark.parametrize("text", ["", "uptime: command not found", "up and running"])
def test_parse_uptime_raises_when_the_output_is_not_uptime(text):
    with pytest.raises(ssh.ParseError):
        ssh.parse_uptime(text)


def test_parse_proc_uptime_reads_seconds_when_given_captured_output():
    assert ssh.parse_proc_uptime(fixture("ssh_proc_uptime.txt")) == 2359.53
    with pytest.raises(ssh.ParseError):
        ssh.parse_proc_uptime("cat: /proc/uptime: No such file or directory")


# --- parameters ---------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "key"), [
    ({"target": "nas", "key_file": "/k", "known_hosts": "/kh"}, "user"),
    ({"target": "nas", "user": "m", "key_file": "/k"}, "known_hosts"),
    ({"target": "nas", "user": "m", "known_hosts": "/kh"}, "key_file"),
    ({"probes": ["df", "ping"]}, "probes"),
    ({"probes": ["command"]}, "command"),
    ({"command": ["check_x"], "probes": ["df"]}, "probes"),
    ({"warn": 95, "crit": 90}, "warn"),
    ({"command_name": "bad name"}, "command_name"),
])
def test_ssh_params_name_what_is_wrong_when_invalid(raw, key):
    with pytest.raises(ParamError) as err:
        parse_params(ssh.SshParams, raw)
    assert err.value.errors[0][0] == key


def test_ssh_params_defaults_and_command_line_form_when_parsed_from_text():
    p = parse_params(ssh.SshParams, {"target": "10.1.2.3", "user": "monitor", "key_file": "/k",
                                     "known_hosts": "/kh", "command": "check_load,-w,5"}, text=True)
    assert p.port == 22 and p.connect_timeout == 10 and p.command_timeout == 30 and p.min_uptime is None
    assert (p.warn, p.crit) == (80, 90)
    assert p.enabled == ("df", "uptime", "command") and p.command_item == "command:check_load"
    assert shlex.join(p.command) == "check_load -w 5"
