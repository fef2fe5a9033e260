"""backup_files against real directories built here: real files, real mtimes, real formats.

The pg_dump archive is a real one (tests/checks/fixtures/files_his.pgdump.txt says how it was
made) and is read by the real pg_restore; gzip, mysqldump and MTF files are written here.
"""

from __future__ import annotations

import gzip
import os
import pathlib
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from checks import backup_files
from checks._cron import CronError, parse_cron
from checks._verify import find_pg_restore, verify_file
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.conftest import missing

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MTF = b"TAPE" + bytes(1020)  # a SQL Server backup starts with the MTF tape header block
MYSQLDUMP = (b"-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n"
             b"-- Host: localhost    Database: his\n"
             b"CREATE TABLE `ward` (`id` int NOT NULL);\n"
             + b"INSERT INTO `ward` VALUES (1),(2),(3);\n" * 200
             + b"/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n\n"
             b"-- Dump completed on 2026-11-23  2:41:07\n")


def put(directory: pathlib.Path, name: str, data: bytes | int, at: datetime) -> pathlib.Path:
    p = directory / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else b"x" * data)
    ts = at.timestamp()
    os.utime(p, (ts, ts))
    return p


def check(now: datetime = NOW, ctx: CheckContext | None = None, **kw) -> Result:
    raw = {"timezone": "UTC", **kw}
    params = parse_params(backup_files.BackupFilesParams, {k: v for k, v in raw.items()
                                                           if k not in ("list_files", "verify", "zone")})
    seams = {k: kw[k] for k in ("list_files", "verify", "zone") if k in kw}
    ctx = ctx or CheckContext()
    ctx.now = now
    [r] = backup_files.run(params, ctx, **seams)
    Result.from_wire({**r.with_origin(site="s", host="h").to_wire()})  # always a valid wire result
    return r


def daily(tmp_path: pathlib.Path, **kw) -> dict:
    return {"path": str(tmp_path), "pattern": "*.bak", "schedule": "0 2 * * *", "grace": "90m", **kw}


# -- schedule: expected-by ---------------------------------------------------------------------

def test_backup_ok_with_the_evidence_when_last_nights_file_is_there(tmp_path):
    put(tmp_path, "HIS_20261122_0200.bak", MTF, datetime(2026, 11, 22, 2, 40, tzinfo=UTC))
    put(tmp_path, "HIS_20261123_0200.bak", MTF, datetime(2026, 11, 23, 2, 41, tzinfo=UTC))
    r = check(**daily(tmp_path))
    assert r.status is Status.OK
    assert r.summary.startswith("HIS_20261123_0200.bak, 1 KiB, finished 02:41, expected by 03:30")
    assert "MTF header present" in r.summary
    assert r.standard == "backup daily 02:00, done by 03:30"
    assert r.item == os.path.join(str(tmp_path), "*.bak")
    metrics = {m.name: m for m in r.metrics}
    assert metrics["age_seconds"].value == pytest.approx(7 * 3600 + 19 * 60)
    assert metrics["size_bytes"].value == 1024 and metrics["files"].value == 2
    assert r.details["expected_run"] == "2026-11-23T02:00:00.000000Z"
    assert r.details["deadline"] == "2026-11-23T03:30:00.000000Z"
    assert r.details["file"].endswith("HIS_20261123_0200.bak")
    assert r.details["verification"]["ok"] is True


def test_backup_critical_when_no_file_since_the_expected_run(tmp_path):
    put(tmp_path, "HIS_20261122_0200.bak", MTF, datetime(2026, 11, 22, 2, 41, tzinfo=UTC))
    r = check(**daily(tmp_path))
    assert r.status is Status.CRITICAL
    assert r.summary == ("no backup since the 02:00 run (expected by 03:30); newest is "
                         "HIS_20261122_0200.bak from 2026-11-22 02:41, 31.3 h old")


@pytest.mark.parametrize(("now", "status"), [
    (datetime(2026, 11, 23, 3, 29, 59, tzinfo=UTC), Status.OK),        # yesterday's run is judged
    (datetime(2026, 11, 23, 3, 30, tzinfo=UTC), Status.CRITICAL),      # today's deadline has come
    (datetime(2026, 11, 23, 23, 59, tzinfo=UTC), Status.CRITICAL),
    (datetime(2026, 11, 24, 3, 29, tzinfo=UTC), Status.CRITICAL),      # still the 23rd's run
])
def test_backup_expected_by_switches_to_the_new_run_exactly_at_its_deadline(tmp_path, now, status):
    put(tmp_path, "HIS_20261122_0200.bak", MTF, datetime(2026, 11, 22, 2, 41, tzinfo=UTC))
    assert check(now=now, **daily(tmp_path)).status is status


def test_backup_file_from_before_the_scheduled_time_does_not_count_for_that_run(tmp_path):
    put(tmp_path, "manual.bak", MTF, datetime(2026, 11, 23, 1, 59, tzinfo=UTC))
    assert check(**daily(tmp_path)).status is Status.CRITICAL


def test_backup_schedule_is_read_in_the_given_time_zone(tmp_path):
    # 02:30 in Shanghai is 18:30 UTC the day before.
    put(tmp_path, "HIS.bak", MTF, datetime(2026, 11, 22, 18, 30, tzinfo=UTC))
    r = check(**daily(tmp_path, timezone="Asia/Shanghai"))
    assert r.status is Status.OK
    assert "finished 02:30, expected by 03:30" in r.summary
    assert r.details["expected_run"] == "2026-11-22T18:00:00.000000Z"
    # Read as UTC, the same file is from before today's 02:00 run.
    assert check(**daily(tmp_path, timezone="UTC")).status is Status.CRITICAL


def test_backup_schedule_defaults_to_the_machines_time_zone(tmp_path):
    put(tmp_path, "HIS.bak", MTF, datetime(2026, 11, 22, 18, 30, tzinfo=UTC))
    params = daily(tmp_path)
    r = check(zone=lambda: SHANGHAI, **{**params, "timezone": ""})
    assert r.status is Status.OK and r.details["timezone"] == "Asia/Shanghai"


def test_backup_weekday_schedule_skips_the_weekend(tmp_path):
    # 2026-11-23 is a Monday; with Mon-Fri backups, Friday's file is fine on Monday 01:00.
    put(tmp_path, "HIS.bak", MTF, datetime(2026, 11, 20, 2, 30, tzinfo=UTC))
    r = check(now=datetime(2026, 11, 23, 1, 0, tzinfo=UTC), **daily(tmp_path, schedule="0 2 * * 1-5"))
    assert r.status is Status.OK and r.standard == "backup Mon-Fri 02:00, done by 03:30"
    assert check(**daily(tmp_path, schedule="0 2 * * 1-5")).status is Status.CRITICAL


# -- max_age -----------------------------------------------------------------------------------

def test_backup_stale_when_older_than_max_age(tmp_path):
    put(tmp_path, "his.bak", MTF, NOW - timedelta(hours=27))
    r = check(path=str(tmp_path), max_age="26h")
    assert r.status is Status.CRITICAL
    assert r.summary == "stale: newest backup his.bak is 27 h old (max 26 h), from 2026-11-22 07:00"
    assert r.standard == "newest backup younger than 26 h"
    ok = check(path=str(tmp_path), max_age="28h")
    assert ok.status is Status.OK
    assert ok.summary.startswith("his.bak, 1 KiB, finished 2026-11-22 07:00, 27 h old")


# -- size ----------------------------------------------------------------------------------------

def test_backup_critical_when_the_newest_file_is_empty(tmp_path):
    put(tmp_path, "a.bak", MTF, NOW - timedelta(days=1, hours=8))
    put(tmp_path, "b.bak", b"", NOW - timedelta(hours=8))
    r = check(**daily(tmp_path))
    assert r.status is Status.CRITICAL and r.summary == "b.bak is empty (0 bytes)"


def test_backup_critical_below_min_size(tmp_path):
    put(tmp_path, "b.bak", MTF, NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, min_size=4096))
    assert r.status is Status.CRITICAL and r.summary == "b.bak is only 1 KiB (minimum 4 KiB)"


def _week(tmp_path: pathlib.Path, newest_size: int) -> None:
    for day in range(1, 8):
        put(tmp_path, f"his_{day}.dat", 10_000 + day, NOW - timedelta(days=day, hours=8))
    put(tmp_path, "his_0.dat", newest_size, NOW - timedelta(hours=8))


def test_backup_warning_when_much_smaller_than_the_median_of_earlier_files(tmp_path):
    _week(tmp_path, 3_000)
    r = check(**daily(tmp_path, pattern="*.dat"))
    assert r.status is Status.WARNING
    assert r.summary.startswith(
        "his_0.dat is 2.9 KiB, below 50 % of the median 9.8 KiB of the previous 7 backups")
    assert r.details["median_size_bytes"] == 10_004
    size = next(m for m in r.metrics if m.name == "size_bytes")
    assert size.warn == pytest.approx(5_002)


def test_backup_ok_when_size_is_within_the_ratio(tmp_path):
    _week(tmp_path, 6_000)
    assert check(**daily(tmp_path, pattern="*.dat")).status is Status.OK


def test_backup_remembers_sizes_when_the_rotation_keeps_only_one_file(tmp_path):
    ctx = CheckContext()
    for day in range(4, 0, -1):  # one file a day, the previous one deleted each time
        for old in tmp_path.glob("*.dat"):
            old.unlink()
        put(tmp_path, f"his_{day}.dat", 10_000, NOW - timedelta(days=day, hours=8))
        check(now=NOW - timedelta(days=day - 1), ctx=ctx, **daily(tmp_path, pattern="*.dat"))
    for old in tmp_path.glob("*.dat"):
        old.unlink()
    put(tmp_path, "his_0.dat", 1_000, NOW - timedelta(hours=8))
    r = check(ctx=ctx, **daily(tmp_path, pattern="*.dat"))
    assert r.status is Status.WARNING and "previous 4 backups" in r.summary


# -- completeness ------------------------------------------------------------------------------

def test_backup_critical_when_a_mysqldump_is_truncated(tmp_path):
    put(tmp_path, "his.sql", MYSQLDUMP[: len(MYSQLDUMP) // 2], NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.sql"))
    assert r.status is Status.CRITICAL
    assert r.summary == "his.sql: incomplete dump: no '-- Dump completed' line at the end (truncated?)"


# mariadb-dump since MariaDB 10.5.25/10.6.18/10.11.8 (May 2024) writes this line before its header
MARIADB_SANDBOX = b"/*M!999999\\- enable the sandbox mode */ \n"


def test_backup_critical_when_a_new_mariadb_dump_with_the_sandbox_line_is_truncated(tmp_path):
    put(tmp_path, "his.sql", MARIADB_SANDBOX + b"-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n"
        b"--\n-- Host: localhost    Database: his\nINSERT INTO t VALUES (1),", NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.sql"))
    assert r.status is Status.CRITICAL
    assert r.summary == "his.sql: incomplete dump: no '-- Dump completed' line at the end (truncated?)"


def test_backup_ok_when_a_new_mariadb_dump_with_the_sandbox_line_is_complete(tmp_path):
    put(tmp_path, "his.sql", MARIADB_SANDBOX + b"-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\n"
        b"INSERT INTO t VALUES (1);\n-- Dump completed on 2026-12-05  2:41:07\n", NOW - timedelta(hours=8))
    assert check(**daily(tmp_path, pattern="*.sql")).summary.endswith("; dump complete")


def test_backup_ok_when_a_mysqldump_is_complete(tmp_path):
    put(tmp_path, "his.sql", MYSQLDUMP, NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.sql"))
    assert r.status is Status.OK and r.summary.endswith("; dump complete")


def test_backup_ok_when_a_gzipped_mysqldump_decompresses_and_is_complete(tmp_path):
    put(tmp_path, "his.sql.gz", gzip.compress(MYSQLDUMP), NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.gz"))
    assert r.status is Status.OK and r.summary.endswith("; gzip intact, dump complete")


def test_backup_critical_when_a_gzipped_dump_was_compressed_from_a_truncated_dump(tmp_path):
    put(tmp_path, "his.sql.gz", gzip.compress(MYSQLDUMP[:-300]), NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.gz"))
    assert r.status is Status.CRITICAL and "incomplete dump" in r.summary


def test_backup_critical_when_a_gzip_file_is_corrupt(tmp_path):
    data = bytearray(gzip.compress(os.urandom(50_000)))
    data[len(data) // 2] ^= 0xFF
    put(tmp_path, "his.gz", bytes(data), NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.gz"))
    assert r.status is Status.CRITICAL and r.summary.startswith("his.gz: corrupt gzip")


def test_backup_critical_when_a_gzip_file_is_cut_short(tmp_path):
    data = gzip.compress(os.urandom(50_000))
    put(tmp_path, "his.gz", data[: len(data) - 100], NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.gz"))
    assert r.status is Status.CRITICAL and "(truncated)" in r.summary


def test_backup_gzip_test_stops_at_its_time_budget(tmp_path):
    p = put(tmp_path, "his.gz", gzip.compress(b"a" * 10_000_000), NOW)
    v = verify_file(str(p), budget_s=0)
    assert v.ok is None and v.text.startswith("not verified: gzip test stopped after 0 s")


def test_backup_critical_when_a_bak_has_no_mtf_header(tmp_path):
    put(tmp_path, "his.bak", bytes(4096), NOW - timedelta(hours=8))
    r = check(**daily(tmp_path))
    assert r.status is Status.CRITICAL and "no Microsoft Tape Format 'TAPE' header" in r.summary


def _pg_restore_or_skip() -> None:
    if find_pg_restore() is None:
        missing("pg_restore", "PostgreSQL client tools are not installed")


def test_backup_ok_when_pg_restore_reads_a_custom_format_dump(tmp_path):
    _pg_restore_or_skip()
    shutil.copy(FIXTURES / "files_his.pgdump", tmp_path / "his.dump")
    os.utime(tmp_path / "his.dump", (NOW.timestamp() - 8 * 3600,) * 2)
    r = check(**daily(tmp_path, pattern="*.dump"))
    assert r.status is Status.OK and r.summary.endswith("; pg_restore reads it")


def test_backup_critical_when_a_custom_format_dump_is_truncated(tmp_path):
    _pg_restore_or_skip()
    data = (FIXTURES / "files_his.pgdump").read_bytes()
    put(tmp_path, "his.dump", data[: len(data) * 6 // 10], NOW - timedelta(hours=8))
    r = check(**daily(tmp_path, pattern="*.dump"))
    assert r.status is Status.CRITICAL
    assert r.summary.startswith("his.dump: corrupt pg_dump archive (data): ")


def test_backup_says_not_verified_when_pg_restore_is_missing(tmp_path):
    shutil.copy(FIXTURES / "files_his.pgdump", tmp_path / "his.dump")
    os.utime(tmp_path / "his.dump", (NOW.timestamp() - 8 * 3600,) * 2)
    r = check(verify=lambda p, b: verify_file(p, budget_s=b, pg_restore=lambda: None),
              **daily(tmp_path, pattern="*.dump"))
    assert r.status is Status.OK and r.summary.endswith("; not verified: pg_restore not installed")


def test_backup_verifies_each_file_once(tmp_path):
    put(tmp_path, "his.bak", MTF, NOW - timedelta(hours=8))
    calls = []

    def verify(path, budget):
        calls.append(path)
        return verify_file(path, budget_s=budget)
    ctx = CheckContext()
    for _ in range(3):
        assert check(ctx=ctx, verify=verify, **daily(tmp_path)).status is Status.OK
    assert len(calls) == 1


def test_backup_verification_that_hangs_on_a_dead_share_is_given_up(tmp_path):
    put(tmp_path, "his.bak", MTF, NOW - timedelta(hours=8))
    gate = threading.Event()

    def hung(path, budget):
        gate.wait(10)
        return verify_file(path, budget_s=budget)
    t0 = time.monotonic()
    r = check(ctx=CheckContext(timeout_s=1.0), verify=hung, **daily(tmp_path))
    gate.set()
    assert time.monotonic() - t0 < 4
    assert r.status is Status.OK
    assert r.summary.endswith("; not verified: reading the file did not finish within 1 s")


def test_backup_a_bug_in_a_completeness_test_is_raised_not_hidden(tmp_path):
    put(tmp_path, "his.bak", MTF, NOW - timedelta(hours=8))

    def broken(path, budget):
        raise ZeroDivisionError("bug")
    with pytest.raises(ZeroDivisionError):
        check(verify=broken, **daily(tmp_path))


def test_backup_does_not_judge_a_file_that_is_still_being_written(tmp_path):
    put(tmp_path, "his_1.sql", MYSQLDUMP, NOW - timedelta(days=1, hours=8))
    put(tmp_path, "his_2.sql", MYSQLDUMP[:100], NOW - timedelta(seconds=30))
    r = check(now=NOW.replace(hour=2, minute=30), **daily(tmp_path, pattern="*.sql"))
    assert r.status is Status.OK
    assert r.summary.startswith("his_1.sql") and "his_2.sql is still being written" in r.summary


# -- the directory ------------------------------------------------------------------------------

def test_backup_critical_when_the_directory_is_missing(tmp_path):
    r = check(**daily(tmp_path / "gone"))
    assert r.status is Status.CRITICAL
    assert r.summary == f"backup directory {tmp_path / 'gone'} does not exist"


def test_backup_critical_when_the_path_is_a_file(tmp_path):
    p = put(tmp_path, "x", 1, NOW)
    r = check(**daily(p))
    assert r.status is Status.CRITICAL and r.summary == f"{p} is not a directory"


def test_backup_critical_when_the_directory_is_unreadable(tmp_path):
    def denied(path, pattern):
        raise PermissionError(13, "Permission denied", path)
    r = check(list_files=denied, **daily(tmp_path))
    assert r.status is Status.CRITICAL
    assert r.summary == f"cannot read backup directory {tmp_path}: permission denied"


def test_backup_critical_when_no_file_matches(tmp_path):
    put(tmp_path, "readme.txt", 10, NOW)
    r = check(**daily(tmp_path))
    assert r.status is Status.CRITICAL
    assert r.summary == f"no file matches *.bak in {tmp_path} (the 02:00 run was expected by 03:30)"
    assert {m.name: m.value for m in r.metrics}["files"] == 0


def test_backup_unknown_when_the_share_does_not_answer(tmp_path):
    gate = threading.Event()

    def hung(path, pattern):
        gate.wait(10)
        return []
    t0 = time.monotonic()
    r = check(list_files=hung, **daily(tmp_path, list_timeout=0.3))
    gate.set()
    assert time.monotonic() - t0 < 3
    assert r.status is Status.UNKNOWN
    assert r.summary == f"{tmp_path}: share did not answer within 300 ms (dead network share?)"


def test_backup_pattern_may_reach_into_subdirectories(tmp_path):
    put(tmp_path, "SRV/HIS/FULL/SRV_HIS_FULL_20261123_020000.bak", MTF,
        datetime(2026, 11, 23, 2, 41, tzinfo=UTC))
    r = check(**daily(tmp_path, pattern="*/HIS/FULL/*.bak"))
    assert r.status is Status.OK and r.summary.startswith("SRV_HIS_FULL_20261123_020000.bak")


# -- parameters ----------------------------------------------------------------------------------

def test_backup_params_from_the_command_line():
    p = parse_params(backup_files.BackupFilesParams,
                     {"path": "/backups", "pattern": "*.bak", "max_age": "26h"}, text=True)
    assert p.max_age == 26 * 3600 and p.min_size_ratio == 0.5 and p.history == 7 and p.verify is True


@pytest.mark.parametrize(("raw", "key"), [
    ({"path": "/b"}, "schedule"),
    ({"path": "/b", "schedule": "0 2 * *"}, "schedule"),
    ({"path": "/b", "schedule": "0 25 * * *"}, "schedule"),
    ({"path": "/b", "schedule": "0 2 * * *", "max_age": "26h"}, "max_age"),
    ({"path": "/b", "max_age": "26h", "timezone": "Mars/Olympus"}, "timezone"),
    ({"path": "/b", "max_age": "26h", "min_size_ratio": 2}, "min_size_ratio"),
])
def test_backup_params_are_rejected_with_the_key(raw, key):
    with pytest.raises(ParamError) as err:
        parse_params(backup_files.BackupFilesParams, raw)
    assert err.value.errors[0][0] == key


def test_backup_unknown_when_path_is_not_configured():
    [r] = backup_files.run(backup_files.BackupFilesParams(), CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith("path: not configured")


# -- the crontab reader --------------------------------------------------------------------------

def _latest(expr: str, at: datetime) -> datetime | None:
    return parse_cron(expr).latest(at, UTC)


def test_cron_weekday_zero_is_sunday_as_in_crontab():
    # 2026-11-23 is a Monday; the latest Sunday 02:00 is the 22nd.
    assert _latest("0 2 * * 0", NOW) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert _latest("0 2 * * 7", NOW) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert _latest("0 2 * * sun", NOW) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_cron_day_of_month_or_weekday_when_both_are_restricted():
    # 1st of the month OR Friday: the latest before Mon 23 Nov is Fri 20 Nov.
    assert _latest("0 2 1 * 5", NOW) == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_cron_steps_lists_ranges_and_macros():
    assert _latest("*/15 * * * *", NOW.replace(minute=44)) == NOW.replace(minute=30)
    assert _latest("30 1,13 * * *", NOW) == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert _latest("@monthly", NOW) == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert _latest("0 0 29 2 *", NOW) == datetime(2024, 2, 29, 0, 0, tzinfo=UTC)
    assert _latest("0 0 30 2 *", NOW) is None
    assert _latest("0 10 * * *", NOW) == NOW  # a fire exactly now counts


@pytest.mark.parametrize("bad", ["0 2 * *", "60 * * * *", "* * 0 * *", "* * * 13 *", "a * * * *",
                                 "*/0 * * * *"])
def test_cron_rejects_bad_expressions(bad):
    with pytest.raises(CronError):
        parse_cron(bad)


# -- what a person reads (issue 14) ------------------------------------------------------------

def _said_in_chinese(r: Result, *names: str) -> str:
    """The summary as a zh_CN reader reads it; fails on English prose (file names, a tool's quoted marker and
    the identifiers of tests/checks/test_messages.py aside)."""
    import re

    from checks.messages import text_of
    from tests.checks.test_messages import IDENTIFIERS
    zh = text_of(r.summary, r.message, "zh_CN")
    bare = re.sub(r"'[^']*'", " ", zh)
    for name in names:
        bare = bare.replace(name, " ")
    assert re.search(r"[\u4e00-\u9fff]", zh), zh
    assert not {w for w in re.findall(r"[A-Za-z][A-Za-z_]+", bare)} - IDENTIFIERS - {"MTF", "pg_restore"}, zh
    return zh


@pytest.mark.parametrize(("name", "data", "status", "theirs"), [
    ("his.sql", MYSQLDUMP[: len(MYSQLDUMP) // 2], Status.CRITICAL, ()),  # incomplete dump
    ("his.sql", MYSQLDUMP, Status.OK, ()),  # dump complete
    ("his.sql.gz", gzip.compress(MYSQLDUMP), Status.OK, ()),  # gzip intact, dump complete
    ("his.bak", MTF, Status.OK, ()),  # MTF header present
    ("his.bak", bytes(4096), Status.CRITICAL, ()),  # not a SQL Server backup
    ("his.zip", b"PK\x03\x04" + bytes(100), Status.CRITICAL, ("File is not a zip file",)),  # the library's words
    ("his.dump", b"PGDMP" + bytes(100), Status.OK, ()),  # not verified: pg_restore not installed
])
def test_backup_verification_reads_in_chinese_also_when_remembered_in_the_saved_state(tmp_path, name, data,
                                                                                      status, theirs):
    import json
    put(tmp_path, name, data, NOW - timedelta(hours=8))
    ctx = CheckContext()
    first = check(ctx=ctx, verify=lambda p, b: verify_file(p, budget_s=b, pg_restore=lambda: None),
                  **daily(tmp_path, pattern=name))
    assert first.status is status
    zh = _said_in_chinese(first, name, *theirs)
    ctx.state = json.loads(json.dumps(ctx.state))  # as the agent saves it between runs

    def tested_again(path: str, budget: float):
        raise AssertionError("tested again")
    again = check(ctx=ctx, verify=tested_again, **daily(tmp_path, pattern=name))
    assert (again.summary, _said_in_chinese(again, name, *theirs)) == (first.summary, zh)


def test_backup_verification_remembered_by_an_older_agent_is_read_as_its_english_text(tmp_path):
    p = put(tmp_path, "his.bak", MTF, NOW - timedelta(hours=8))
    st = p.stat()
    ctx = CheckContext()
    ctx.state["verified"] = {"key": f"his.bak|{st.st_size}|{st.st_mtime:.6f}", "ok": True, "text": "an old text"}
    r = check(ctx=ctx, verify=lambda p, b: pytest.fail("tested again"), **daily(tmp_path))
    assert r.status is Status.OK and r.summary.endswith("; an old text")
