"""logscan: a real log file on this machine (appended, rotated, truncated), and Windows
events parsed from wevtutil XML in the shape Windows writes (fixtures/win_events_*.xml)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from checks import _windows, logscan
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Status

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


class Log:
    """A real log file and the check's state across runs, as the agent keeps it."""

    def __init__(self, path: pathlib.Path, **params):
        self.path = path
        self.state: dict = {}
        params.setdefault("patterns", [r"\bWARN\b"])
        params.setdefault("critical_patterns", [r"\bERROR\b", "OutOfMemory"])
        self.params = parse_params(logscan.LogscanParams, {"path": str(path), **params})

    def write(self, *lines: str, mode: str = "a", encoding: str = "utf-8") -> None:
        with open(self.path, mode, encoding=encoding, newline="") as fh:
            fh.write("".join(line + "\n" for line in lines))

    def check(self):
        [r] = logscan.run(self.params, CheckContext(state=self.state))
        json.dumps(self.state)  # the agent must be able to keep it
        return r


@pytest.fixture
def log(tmp_path):
    lg = Log(tmp_path / "his-app.log")
    lg.write("2026-11-23 07:00:00 INFO started", "2026-11-23 07:00:01 ERROR old failure, already handled")
    return lg


def test_logscan_first_run_starts_at_the_end_and_does_not_alert_on_old_history(log):
    r = log.check()
    assert r.status is Status.OK
    assert "first run: watching from the end" in r.summary
    assert "of earlier history not scanned" in r.summary


def test_logscan_first_run_scans_old_content_when_from_start(tmp_path):
    lg = Log(tmp_path / "a.log", from_start=True)
    lg.write("x ERROR y")
    assert lg.check().status is Status.CRITICAL


def test_logscan_ok_when_new_lines_match_nothing(log):
    log.check()
    log.write("07:01 INFO request served", "07:02 INFO request served")
    r = log.check()
    assert r.status is Status.OK and r.summary.endswith("no new matching line in 2 new lines")
    assert {m.name: m.value for m in r.metrics} == {"lines": 2, "critical_matches": 0, "warning_matches": 0}


def test_logscan_warning_when_a_new_line_matches_a_pattern_and_ok_again_next_run(log):
    log.check()
    log.write("07:03 WARN pool 90 % used")
    r = log.check()
    assert r.status is Status.WARNING
    assert "1 new matching line: '07:03 WARN pool 90 % used'" in r.summary
    assert log.check().status is Status.OK


def test_logscan_critical_when_a_new_line_matches_a_critical_pattern(log):
    log.check()
    log.write("07:04 WARN slow", "07:05 ERROR database connection lost", "07:06 java.lang.OutOfMemoryError")
    r = log.check()
    assert r.status is Status.CRITICAL
    assert r.summary.startswith(f"{log.path}: 2 new critical lines: '07:05 ERROR database connection lost'")
    assert "(and 1 warning)" in r.summary
    assert r.details["critical"] == ["07:05 ERROR database connection lost",
                                     "07:06 java.lang.OutOfMemoryError"]


def test_logscan_skips_lines_matching_ignore(tmp_path):
    lg = Log(tmp_path / "a.log", ignore=["ERROR expected in test mode"])
    lg.write("start")
    lg.check()
    lg.write("ERROR expected in test mode")
    assert lg.check().status is Status.OK


def test_logscan_leaves_a_half_written_line_for_the_next_run(log):
    log.check()
    with open(log.path, "a") as fh:
        fh.write("07:07 ERR")
    assert log.check().status is Status.OK
    with open(log.path, "a") as fh:
        fh.write("OR disk full\n")
    r = log.check()
    assert r.status is Status.CRITICAL and "07:07 ERROR disk full" in r.summary


def test_logscan_finishes_the_old_file_and_reads_the_new_one_when_the_log_is_rotated(log):
    log.check()
    log.write("07:10 WARN before rotation, not yet read")
    os.rename(log.path, f"{log.path}.1")           # logrotate's default: rename, then create
    with open(f"{log.path}.1", "a") as fh:          # the app still writes to its open handle
        fh.write("07:11 ERROR written to the old file after the rename\n")
    log.write("07:12 INFO new file", mode="w")
    r = log.check()
    assert r.status is Status.CRITICAL
    assert "rotated: read the rest of his-app.log.1, then the new file from its start" in r.summary
    assert r.metrics[0].value == 3
    log.write("07:13 ERROR in the new file")
    r = log.check()
    assert r.status is Status.CRITICAL and "rotated" not in r.summary and r.metrics[0].value == 1


def test_logscan_reads_the_new_file_when_the_rotated_one_is_gone(log):
    log.check()
    os.rename(log.path, f"{log.path}.1.gz")  # compressed at once: not opened
    log.write("07:20 ERROR first line of the new file", mode="w")
    r = log.check()
    assert r.status is Status.CRITICAL and "the old one is gone or compressed" in r.summary


def test_logscan_reads_from_the_start_when_the_file_was_truncated_by_copytruncate(log):
    log.write("07:30 INFO " + "x" * 200)
    log.check()
    os.truncate(log.path, 0)
    log.write("07:31 ERROR after copytruncate")
    r = log.check()
    assert r.status is Status.CRITICAL and "truncated" in r.summary


def test_logscan_reads_from_the_start_when_the_file_was_rewritten_past_the_old_offset(log):
    log.check()
    size = log.path.stat().st_size
    log.write("NEW HEADER ERROR " + "y" * size, mode="w")  # same inode, bigger, different start
    r = log.check()
    assert r.status is Status.CRITICAL and "rewritten" in r.summary


def test_logscan_reads_at_most_max_lines_per_run_and_the_rest_next_run(tmp_path):
    lg = Log(tmp_path / "a.log", max_lines=10)
    lg.write("start")
    lg.check()
    lg.write(*[f"line {i}" for i in range(25)], "ERROR at the end")
    r1, r2 = lg.check(), lg.check()
    assert r1.status is Status.OK and "read next run" in r1.summary and r1.metrics[0].value == 10
    assert r2.metrics[0].value == 10
    r3 = lg.check()
    assert r3.status is Status.CRITICAL and r3.metrics[0].value == 6


def test_logscan_decodes_a_gbk_log_of_a_chinese_windows_application(tmp_path):
    lg = Log(tmp_path / "his.log", encoding="gbk", critical_patterns=["数据库连接失败"])
    lg.write("开始", encoding="gbk")
    lg.check()
    lg.write("2026-11-23 08:00:00 错误: 数据库连接失败", encoding="gbk")
    r = lg.check()
    assert r.status is Status.CRITICAL and "数据库连接失败" in r.summary
    # the matched line is data: it reads as written in a Chinese record, framed in Chinese
    assert render(r.message, "zh_CN") == f"{lg.path}：新增 1 行严重错误：'2026-11-23 08:00:00 错误: 数据库连接失败'"


def test_logscan_replaces_undecodable_bytes_instead_of_failing(log):
    log.check()
    with open(log.path, "ab") as fh:
        fh.write(b"07:40 ERROR \xff\xfe broken bytes\n")
    r = log.check()
    assert r.status is Status.CRITICAL and "\ufffd" in r.details["critical"][0]


def test_logscan_unknown_when_the_file_is_missing(tmp_path):
    [r] = logscan.run(parse_params(logscan.LogscanParams, {"path": str(tmp_path / "nope.log"),
                                                           "patterns": ["x"]}), CheckContext())
    assert r.status is Status.UNKNOWN and "No such file or directory" in r.summary


def test_logscan_unknown_when_nothing_is_configured():
    [r] = logscan.run(logscan.LogscanParams(), CheckContext())
    assert r.status is Status.UNKNOWN and "not configured" in r.summary


@pytest.mark.parametrize(("params", "key"), [
    ({"path": "/x"}, "patterns"), ({"path": "/x", "patterns": ["("]}, "patterns"),
    ({"encoding": "utf-16"}, "encoding"), ({"encoding": "klingon"}, "encoding"),
    ({"levels": "5"}, "levels"), ({"channels": ["System; rm"]}, "channels"),
])
def test_logscan_config_rejects_bad_params(params, key):
    with pytest.raises(ParamError, match=key):
        parse_params(logscan.LogscanParams, params, text=isinstance(params.get("levels"), str))


def test_logscan_cli_runs_with_params(log):
    cmd = [sys.executable, "-m", "agent", "check", "logscan", "--param", f"path={log.path}",
           "--param", "critical_patterns=ERROR", "--param", "from_start=true", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    [r] = json.loads(out.stdout)
    assert out.returncode == 2 and r["status"] == 2 and "old failure" in r["summary"]


# -- Windows events ------------------------------------------------------------------

NEWEST = (FIXTURES / "win_events_newest.xml").read_text(encoding="utf-8")
SYSTEM = (FIXTURES / "win_events_system.xml").read_text(encoding="utf-8")


class Wevtutil:
    """Answers as wevtutil does: the newest event for `*`, the filtered events otherwise."""

    def __init__(self, newest: str = NEWEST, events: str = SYSTEM):
        self.newest, self.events, self.calls = newest, events, []

    def __call__(self, channel: str, xpath: str, count: int, timeout: float) -> str:
        self.calls.append((channel, xpath, count))
        return self.newest if xpath == "*" else self.events


def run_events(state: dict, wevtutil, **params):
    p = parse_params(logscan.LogscanParams, {"channels": ["System"], **params})
    [r] = logscan.run(p, CheckContext(state=state), query=wevtutil)
    return r


def test_events_first_run_records_the_newest_record_and_reports_nothing_old():
    state: dict = {}
    r = run_events(state, Wevtutil())
    assert r.status is Status.OK and "first run: watching from record 88470" in r.summary
    assert state["records"] == {"System": 88470}


def test_events_critical_with_the_first_event_when_unexpected_shutdown_and_service_crash_are_new():
    state = {"records": {"System": 88410}}
    wevtutil = Wevtutil()
    r = run_events(state, wevtutil)
    assert r.item == "eventlog:System" and r.status is Status.CRITICAL
    assert r.summary.startswith("eventlog:System: 6 new events (IDs 41, 6008, 7034, 129, 7031, 104); "
                                "first: Microsoft-Windows-Kernel-Power 41 at 2026-11-23T01:02:11Z "
                                "(no bugcheck: power loss or hang)")
    assert render(r.message, "zh_CN").startswith(
        "eventlog:System：新增 6 个事件（ID 41, 6008, 7034, 129, 7031, 104）；首个：Microsoft-Windows-Kernel-Power 41，"
        "时间 2026-11-23T01:02:11Z（无蓝屏代码：断电或死机）")
    by_id = {e["event_id"]: e for e in r.details["events"]}
    assert by_id[7034]["status"] == "CRITICAL"
    assert by_id[7034]["data"]["param1"] == "SQL Server Agent (MSSQLSERVER)"
    assert by_id[7031]["status"] == "WARNING" and by_id[104]["data"]["Channel"] == "Application"
    assert state["records"] == {"System": 88470}
    [_, (_, xpath, count)] = wevtutil.calls
    assert "EventRecordID > 88410" in xpath and "EventID=41 or " in xpath and count == 100
    assert "TimeCreated[timediff(@SystemTime) <= 86400000]" in xpath


def test_events_warning_when_only_warning_ids_are_new():
    xml = "\n".join(line for line in SYSTEM.splitlines() if ">7031<" in line or ">129<" in line)
    r = run_events({"records": {"System": 88430}}, Wevtutil(events=xml))
    assert r.status is Status.WARNING
    assert ("first: Microsoft-Windows-StorPort 129 at 2026-11-23T03:05:09Z (\\Device\\RaidPort1; 0)"
            in r.summary)


def test_events_ok_without_a_second_query_when_nothing_was_written():
    wevtutil = Wevtutil()
    r = run_events({"records": {"System": 88470}}, wevtutil)
    assert r.status is Status.OK and len(wevtutil.calls) == 1


def test_events_read_again_within_lookback_when_the_log_was_cleared():
    state = {"records": {"System": 99999}}
    wevtutil = Wevtutil()
    r = run_events(state, wevtutil)
    assert "the log was cleared" in r.summary and "EventRecordID > 0" in wevtutil.calls[1][1]


def test_events_levels_add_events_of_any_id():
    xpath = logscan.event_query(parse_params(logscan.LogscanParams, {"levels": [1, 2]}), 5)
    assert "Level=1 or Level=2" in xpath


def test_events_unknown_when_wevtutil_fails():
    def broken(channel, xpath, count, timeout):
        raise _windows.WindowsError_(
            "wevtutil qe System failed (exit 15007): The specified channel could not be found.")
    r = run_events({}, broken)
    assert r.status is Status.UNKNOWN and "channel could not be found" in r.summary


def test_events_unknown_when_wevtutil_writes_broken_xml():
    r = run_events({"records": {"System": 1}}, Wevtutil(events="<Event><System>"))
    assert r.status is Status.UNKNOWN


def test_events_real_wevtutil_is_missing_on_linux():
    if sys.platform == "win32":
        pytest.skip("Windows has wevtutil")
    with pytest.raises(_windows.WindowsError_, match="wevtutil not found"):
        _windows.wevtutil_query("System", "*", 1, 5)


# -- default event IDs mean something only with their provider ------------------------------

REBOOT = (FIXTURES / "win_events_reboot_noise.xml").read_text(encoding="utf-8")


def test_events_a_reboots_informational_events_with_default_ids_are_not_alerts():
    # Kernel-Processor-Power 55 per CPU, Ntfs 98 "healthy", Kernel-General 11, Time-Service 129
    noise = "\n".join(line for line in REBOOT.splitlines() if "'disk'" not in line and "<Level>2<" not in line)
    r = run_events({"records": {"System": 90100}}, Wevtutil(newest=REBOOT.splitlines()[1], events=noise))
    assert r.status is Status.OK, r.summary
    assert r.summary.startswith("eventlog:System: no new event of interest")
    assert "20 event(s) with these IDs from other providers or at harmless levels left out" in r.summary
    assert r.details["events"] == []


def test_events_disk_controller_error_and_ntfs_repair_stand_out_of_the_noise():
    r = run_events({"records": {"System": 90100}}, Wevtutil(newest=REBOOT.splitlines()[1], events=REBOOT))
    assert r.status is Status.CRITICAL
    assert r.summary.startswith("eventlog:System: 2 new events (IDs 11, 98); first: disk 11 at "
                                "2026-11-23T07:02:41Z (\\Device\\Harddisk1\\DR1)")
    assert [(e["provider"], e["event_id"]) for e in r.details["events"]] == [
        ("disk", 11), ("Microsoft-Windows-Ntfs", 98)]


def test_events_query_asks_crowded_ids_from_their_providers_only():
    p = parse_params(logscan.LogscanParams, {"channels": ["System"]})
    xpath = logscan.event_query(p, 7)
    assert ("((EventID=11 or EventID=55) and Provider[@Name='Microsoft-Windows-Ntfs' or @Name='Ntfs' "
            "or @Name='disk'])") in xpath
    assert "EventID=55 or" not in xpath and "EventID=1102" not in xpath  # 1102 is a Security event
    # Windows Event Log: an XPath of more than 20 expressions needs a structured query
    comparisons = xpath.count("=") + xpath.count(" > ")  # "=", "<=" and ">" each compare once
    assert comparisons <= 20, xpath
    assert "EventID=1102" in logscan.event_query(p, 7, "Security")


def test_events_configured_ids_come_from_any_provider_and_defaults_can_be_left_out():
    p = parse_params(logscan.LogscanParams, {"channels": ["Application"], "critical_ids": [823, 824],
                                             "warning_ids": [825]})
    xpath = logscan.event_query(p, 7, "Application")
    assert "EventID=823 or EventID=824 or EventID=825" in xpath and "EventID=41" not in xpath
    ev = logscan.Event(record_id=1, event_id=824, level=2, provider="MSSQLSERVER", time="", channel="Application",
                       data={})
    assert logscan.event_status(ev, p, "Application") is Status.CRITICAL
    quiet = parse_params(logscan.LogscanParams, {"channels": ["System"], "default_events": False, "levels": [1]})
    assert logscan.event_query(quiet, 7) == ("*[System[(Level=1) and EventRecordID > 7 "
                                             "and TimeCreated[timediff(@SystemTime) <= 86400000]]]")


@pytest.mark.parametrize(("provider", "event_id", "level", "data", "status"), [
    ("Microsoft-Windows-Kernel-Power", 41, 1, {}, Status.CRITICAL),
    ("Microsoft-Windows-Kernel-Processor-Power", 55, 4, {"Number": "3"}, Status.OK),
    ("Ntfs", 55, 2, {}, Status.CRITICAL),
    ("Microsoft-Windows-Kernel-General", 11, 4, {}, Status.OK),
    ("disk", 11, 2, {"param1": "\\Device\\Harddisk1\\DR1"}, Status.CRITICAL),
    ("Microsoft-Windows-Ntfs", 98, 4, {"CorruptionActionState": "0"}, Status.OK),
    ("Microsoft-Windows-Ntfs", 98, 4, {"CorruptionActionState": "1"}, Status.CRITICAL),
    ("Microsoft-Windows-Time-Service", 129, 3, {"ErrorMessage": "The entry is not found."}, Status.OK),
    ("iaStorAVC", 129, 3, {"param1": "\\Device\\RaidPort0"}, Status.WARNING),
    ("Service Control Manager", 7034, 2, {"param1": "HIS"}, Status.CRITICAL),
    ("Microsoft-Windows-Eventlog", 104, 4, {"Channel": "Application"}, Status.WARNING),
])
def test_event_status_pairs_each_default_id_with_its_provider_and_level(provider, event_id, level, data, status):
    p = parse_params(logscan.LogscanParams, {"channels": ["System"]})
    ev = logscan.Event(record_id=1, event_id=event_id, level=level, provider=provider, time="", channel="System",
                       data=data)
    assert logscan.event_status(ev, p) is status
