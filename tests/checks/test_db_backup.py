"""db_backup tests.

PostgreSQL and MariaDB: real throwaway servers (``tests/checks/db_servers.py``) reached through
the real ODBC drivers (psqlODBC ``PostgreSQL Unicode``, ``MariaDB Unicode``) with the password in
a file.  SQL Server and Oracle cannot run on this machine (no server, no Oracle driver): their
judging is tested against result rows in the shape those servers return
(``tests/checks/fixtures/mssql_*.json``, ``oracle_*.json``; each names its source), fed through a
fake connection that answers the way pyodbc does (``cursor.description`` + tuples, ``Decimal``
for numeric columns, naive server-local datetimes).  Every SQL text is parsed with sqlglot in
its own dialect so a typo cannot ship.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from checks import _odbc, db_backup
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.db_servers import (  # noqa: F401  (pytest fixtures)
    MARIADB_PASSWORD,
    PG_PASSWORD,
    mariadb_server,
    pg_server,
)

FIXTURES = Path(__file__).parent / "fixtures"


def params(**raw: Any) -> db_backup.DbBackupParams:
    return parse_params(db_backup.DbBackupParams, raw)


def by_item(results: list[Result]) -> dict[str, Result]:
    return {r.item: r for r in results}


def assert_no_secret(results: list[Result], secret: str) -> None:
    for r in results:
        wire = json.dumps(r.to_wire())
        assert secret not in wire
        assert secret.replace("}", "}}") not in wire


# --------------------------------------------------------------------------- parameters

def test_db_backup_params_have_hospital_defaults():
    p = db_backup.DbBackupParams()
    assert (p.full_max_age, p.diff_max_age, p.log_max_age) == (26 * 3600, 26 * 3600, 3600)
    assert params(engine="MariaDB").engine == "mysql"


@pytest.mark.parametrize(("raw", "key"), [
    ({"engine": "db2"}, "engine"),
    ({"dsn": "DRIVER={x};UID=sa;PWD=secret"}, "dsn"),
    ({"password_file": "/a", "password_env": "B"}, "password_file"),
    ({"override": ["HISDB:full_max_age"]}, "override"),
    ({"override": ["HISDB:color=8h"]}, "override"),
    ({"override": ["HISDB:full_max_age=soon"]}, "override"),
    ({"min_size_ratio": 2}, "min_size_ratio"),
])
def test_db_backup_config_errors_name_the_key(raw, key):
    with pytest.raises(ParamError) as err:
        params(**raw)
    assert err.value.errors[0][0] == key


def test_db_backup_overrides_apply_per_database_with_globs():
    p = params(override=["HISDB:full_max_age=8d", "Archive*:log_max_age=4h"])
    assert p.max_age("full_max_age", "hisdb") == 8 * 86400
    assert p.max_age("full_max_age", "LISDB") == 26 * 3600
    assert p.max_age("log_max_age", "Archive2019") == 4 * 3600


def test_db_backup_is_in_the_catalogue():
    assert get_check("db_backup").params is db_backup.DbBackupParams


# --------------------------------------------------------------------------- SQL texts

@pytest.mark.parametrize("name", sorted(db_backup.SQL_DIALECTS))
def test_db_backup_sql_parses_in_its_dialect(name):
    import sqlglot
    sql = getattr(db_backup, name)
    parsed = sqlglot.parse(sql, read=db_backup.SQL_DIALECTS[name], error_level=sqlglot.ErrorLevel.RAISE)
    assert len([p for p in parsed if p is not None]) == 1


def test_db_backup_every_sql_constant_is_checked_and_reads_no_business_table():
    import sqlglot
    from sqlglot import exp
    engines = ("SQLSERVER", "ORACLE", "PG", "MYSQL")
    constants = {n for n in dir(db_backup)
                 if n.isupper() and n.split("_")[0] in engines and isinstance(getattr(db_backup, n), str)}
    assert constants == set(db_backup.SQL_DIALECTS)
    allowed_prefixes = ("msdb.dbo.", "sys.", "v$", "pg_", "information_schema.", "mysql.backup_history")
    for name, dialect in db_backup.SQL_DIALECTS.items():
        tree = sqlglot.parse_one(getattr(db_backup, name), read=dialect)
        ctes = {c.alias for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            full = ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()
            assert full in ctes or full.startswith(allowed_prefixes), f"{name} reads {full}"


def test_sqlserver_sql_keeps_only_this_servers_history_under_any_of_its_names():
    import sqlglot
    from sqlglot import exp
    tree = sqlglot.parse_one(db_backup.SQLSERVER_BACKUPS, read="tsql")
    sql = tree.sql("tsql").lower()
    # a renamed host: @@SERVERNAME keeps the installed name, backupset records the current one;
    # a case-sensitive server collation must not make 'HISDB01' differ from 'hisdb01'
    assert ("upper(b.server_name) in (upper(@@servername), "
            "upper(cast(serverproperty('servername') as nvarchar(128))))") in sql
    assert "upper(b.machine_name) = upper(cast(serverproperty('machinename') as nvarchar(128)))" in sql
    conditions = [e.sql("tsql").lower() for e in tree.find_all(exp.EQ)]
    # MIRROR TO writes one backupmediafamily row per mirror: one row per backup
    assert {"mf.mirror = 0", "mf.family_sequence_number = 1"} <= set(conditions)
    # every state is read (suspect, offline, restoring databases are reported, not skipped)
    assert not any(c.startswith("d.state ") for c in conditions)
    types = {lit.this for e in tree.find_all(exp.In) if e.this.sql().lower() == "b.type"
             for lit in e.expressions}
    assert types == {"D", "P", "I", "Q", "L"}


def test_sqlserver_backup_query_runs_on_2008_r2():
    # replica_id and the HADR objects exist from SQL Server 2012; they live in their own query
    for name in ("SQLSERVER_INSTANCE", "SQLSERVER_BACKUPS", "SQLSERVER_JOBS", "SQLSERVER_SCHEDULES"):
        text = getattr(db_backup, name).lower()
        for needs_2012 in ("replica_id", "fn_hadr", "dm_hadr", "availability_"):
            assert needs_2012 not in text, (name, needs_2012)
    assert "replica_id" in db_backup.SQLSERVER_AG.lower()


# --------------------------------------------------------------------------- helpers

def test_connection_string_appends_the_password_with_braces_escaped():
    assert _odbc.connection_string("DRIVER={x};UID=u;", "a}b;c") == "DRIVER={x};UID=u;PWD={a}}b;c}"
    assert _odbc.connection_string("DSN=his", None) == "DSN=his"


def test_driver_messages_are_sanitised():
    msg = "[08001] login failed for DRIVER={x};UID=sa;PWD={a}}b};SERVER=s (pw a}b)"
    clean = _odbc.sanitise(msg, "a}b")
    assert "a}b" not in clean and "PWD=***" in clean


@pytest.mark.parametrize(("run_date", "run_time", "expected"), [
    (20261123, 20005, datetime(2026, 11, 23, 2, 0, 5)),
    (20261231, 235959, datetime(2026, 12, 31, 23, 59, 59)),
    (20260101, 0, datetime(2026, 1, 1, 0, 0, 0)),
    (0, 0, None),
])
def test_agent_datetime_decodes_msdb_integers(run_date, run_time, expected):
    assert db_backup.agent_datetime(run_date, run_time) == expected


@pytest.mark.parametrize(("value", "seconds"), [(0, 0), (5, 5), (1203, 723), (13005, 3600 + 30 * 60 + 5),
                                               (1000000, 100 * 3600), (1234567, 123 * 3600 + 45 * 60 + 67)])
def test_agent_duration_decodes_hhmmss_beyond_a_day(value, seconds):
    assert db_backup.agent_duration(value) == seconds


def test_wal_ordinal_counts_across_log_ids():
    seg = 16 * 1024 * 1024
    assert db_backup.wal_ordinal("0000000100000001000000FF", seg) + 1 == \
        db_backup.wal_ordinal("000000010000000200000000", seg)


def test_password_missing_is_unknown_and_says_where():
    [r] = db_backup.run(params(engine="postgresql", dsn="DRIVER={PostgreSQL Unicode};SERVER=x",
                               password_file="/nonexistent/pw"), CheckContext())
    assert r.status is Status.UNKNOWN and "password_file /nonexistent/pw" in r.summary
    [r] = db_backup.run(params(engine="postgresql", dsn="DRIVER={PostgreSQL Unicode};SERVER=x",
                               password_env="WARDROUND_NO_SUCH_VAR"), CheckContext(), environ={})
    assert r.status is Status.UNKNOWN and "WARDROUND_NO_SUCH_VAR" in r.summary


# --------------------------------------------------------------------------- PostgreSQL (real)

def pg_params(server, **raw: Any) -> db_backup.DbBackupParams:
    return params(engine="postgresql", dsn=server.dsn, password_file=str(server.password_file), **raw)


def wait_for(predicate, timeout: float = 20.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def archive_result(server, **raw: Any) -> Result:
    [r] = db_backup.run(pg_params(server, **raw), CheckContext())
    return r


def test_postgresql_archiving_critical_when_archive_command_fails_then_ok_when_fixed(pg_server):  # noqa: F811 (fixture)
    pg_server.set_archive_exit(1)
    failing_wal = pg_server.switch_wal()
    r = wait_for(lambda: (x := archive_result(pg_server)).status is Status.CRITICAL and x, timeout=30)
    assert r, f"archiver never reported the failure: {archive_result(pg_server).summary}"
    assert r.item == "archive"
    assert "archiving failed" in r.summary and failing_wal in r.summary
    assert r.details["failed_count"] >= 1 and "failed" in r.details["verdict"]
    metrics = {m.name: m for m in r.metrics}
    assert metrics["failed_count"].value >= 1 and metrics["age_seconds"].unit == "s"
    assert_no_secret([r], PG_PASSWORD)

    pg_server.set_archive_exit(0)
    pg_server.psql("SELECT pg_reload_conf()")
    pg_server.switch_wal()
    r = wait_for(lambda: (x := archive_result(pg_server)).status is Status.OK and x, timeout=90)
    assert r, f"archiving did not recover: {archive_result(pg_server).summary}"
    assert r.summary.startswith("WAL archive: last WAL file") and "archived" in r.summary
    assert r.details["last_archived_wal"] and r.details["pending_wal_files"] == 0
    assert (pg_server.root / "archive" / r.details["last_archived_wal"]).exists()
    assert r.standard == "archived WAL file within 1 h"
    # older than archive_max_age but nothing waits: an idle server is not a fault
    time.sleep(1.1)
    idle = archive_result(pg_server, archive_max_age=1)
    assert idle.status is Status.OK and "idle, no WAL file waiting" in idle.summary, idle.summary


def test_postgresql_wrong_password_is_critical_login_failed_without_the_password(pg_server, tmp_path):  # noqa: F811 (fixture)
    wrong = "Wr0ng;{pass}"
    pw = tmp_path / "pw"
    pw.write_text(wrong + "\n")
    results = db_backup.run(params(engine="postgresql", dsn=pg_server.dsn, password_file=str(pw)),
                            CheckContext())
    [r] = results
    assert r.item == "connection" and r.status is Status.CRITICAL
    assert "login failed" in r.summary and "password authentication failed" in r.summary
    assert_no_secret(results, wrong)


def test_postgresql_unreachable_is_critical(pg_server, tmp_path):  # noqa: F811 (fixture)
    from tests.conftest import free_port
    dsn = pg_server.dsn.replace(f"PORT={pg_server.port}", f"PORT={free_port()}")
    [r] = db_backup.run(params(engine="postgresql", dsn=dsn, password_file=str(pg_server.password_file),
                               login_timeout=3), CheckContext())
    assert r.status is Status.CRITICAL and "cannot connect" in r.summary
    assert_no_secret([r], PG_PASSWORD)


class FakeRun:
    """Answers ``pgbackrest info`` as subprocess.run would."""

    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = "", exc: Exception | None = None):
        self.stdout, self.returncode, self.stderr, self.exc = stdout, returncode, stderr, exc
        self.calls: list[list[str]] = []

    def __call__(self, cmd, **kw):
        self.calls.append(cmd)
        assert kw["timeout"] > 0
        if self.exc:
            raise self.exc
        return subprocess.CompletedProcess(cmd, self.returncode, self.stdout, self.stderr)


def pgbackrest_info(now: datetime, *, code: int = 0, message: str = "ok", newest_age_h: float = 3,
                    newest_size: int = 30 * 2**30) -> str:
    # Shape from pgBackRest's documented `info --output=json` (pgbackrest.org user guide, "Monitoring").
    def backup(label, btype, age_h, size):
        stop = int((now - timedelta(hours=age_h)).timestamp())
        return {"label": label, "type": btype, "timestamp": {"start": stop - 600, "stop": stop},
                "info": {"size": size, "delta": size, "repository": {"size": size // 3, "delta": size // 3}},
                "database": {"id": 1, "repo-key": 1}, "archive": {"start": "000000010000000000000010",
                                                                   "stop": "000000010000000000000011"},
                "error": False}
    backups = [] if code == 2 else [
        backup("20261116-020002F", "full", 24 * 7 + newest_age_h, 30 * 2**30),
        backup("20261118-020002F", "full", 24 * 5 + newest_age_h, 31 * 2**30),
        backup("20261120-020002F", "full", 24 * 3 + newest_age_h, 31 * 2**30),
        backup("20261121-020002F", "full", 24 * 2 + newest_age_h, 32 * 2**30),
        backup("20261122-020002F", "full", newest_age_h, newest_size),
    ]
    return json.dumps([{"name": "main", "status": {"code": code, "message": message},
                        "backup": backups, "archive": [], "db": [], "cipher": "none"}])


def test_pgbackrest_ok_with_the_newest_backup_as_evidence():
    now = datetime.now(UTC)
    fake = FakeRun(pgbackrest_info(now))
    [r] = db_backup.run(params(engine="postgresql", pgbackrest_stanza="main"), CheckContext(now=now),
                        run=fake)
    assert fake.calls == [["pgbackrest", "--output=json", "--stanza=main", "info"]]
    assert r.item == "pgbackrest/main" and r.status is Status.OK, r.summary
    assert "full backup 20261122-020002F" in r.summary
    assert r.details["label"] == "20261122-020002F"
    assert next(m for m in r.metrics if m.name == "age_seconds").value == pytest.approx(3 * 3600, abs=5)


@pytest.mark.parametrize(("kw", "status", "words"), [
    ({"code": 99, "message": "other"}, Status.CRITICAL, "failed: status 99 (other)"),
    ({"code": 2, "message": "no valid backups"}, Status.CRITICAL, "never backed up"),
    ({"newest_age_h": 30}, Status.CRITICAL, "missed"),
    ({"newest_size": 2**30}, Status.WARNING, "too small"),
])
def test_pgbackrest_statuses(kw, status, words):
    now = datetime.now(UTC)
    [r] = db_backup.run(params(engine="postgresql", pgbackrest_stanza="main"), CheckContext(now=now),
                        run=FakeRun(pgbackrest_info(now, **kw)))
    assert r.status is status and words in r.summary, r.summary


def test_pgbackrest_missing_or_hanging_is_unknown():
    p = params(engine="postgresql", pgbackrest_stanza="main", query_timeout=2)
    [r] = db_backup.run(p, CheckContext(), run=FakeRun(exc=FileNotFoundError("pgbackrest")))
    assert r.status is Status.UNKNOWN and "not installed" in r.summary
    [r] = db_backup.run(p, CheckContext(), run=FakeRun(exc=subprocess.TimeoutExpired("pgbackrest", 2)))
    assert r.status is Status.UNKNOWN and "within 2 s" in r.summary


# --------------------------------------------------------------------------- SQL Server and Oracle (rows)
# No SQL Server or Oracle server can run on this machine: these tests feed rows in the shape those
# servers return (see each fixture's "source") through a connection that behaves like pyodbc's.

def load_rows(table: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """Fixture rows with the Python types pyodbc gives: datetime, Decimal, bool."""
    cols = table["columns"]
    out = []
    for raw in table["rows"]:
        row = []
        for name, value in zip(cols, raw, strict=True):
            if value is not None and name in table["datetime"]:
                value = datetime.fromisoformat(value)
            elif value is not None and name in table["decimal"]:
                value = Decimal(value)
            elif value is not None and name in table["bool"]:
                value = bool(value)
            row.append(value)
        out.append(tuple(row))
    return cols, out


class FakeCursor:
    def __init__(self, conn: FakeConnection):
        self.conn, self.description, self._rows = conn, None, []

    def execute(self, sql: str, *params: Any) -> FakeCursor:
        self.conn.executed.append((sql, params))
        if sql not in self.conn.answers:
            raise AssertionError(f"unexpected SQL: {sql[:80]}")
        cols, rows = self.conn.answers[sql]
        # pyodbc: description = (name, type_code, display_size, internal_size, precision, scale, null_ok)
        self.description = [(c, object, None, None, None, None, True) for c in cols]
        self._rows = list(rows)
        return self

    def fetchall(self) -> list[tuple]:
        return self._rows

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, answers: dict[str, tuple[list[str], list[tuple]]]):
        self.answers, self.executed, self.closed, self.timeout = answers, [], False, 0
        self.connect_args: tuple = ()

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True

    def __call__(self, connection_string: str, **kw: Any) -> FakeConnection:  # the connect seam
        self.connect_args = (connection_string, kw)
        return self


def mssql_answers(backups: str = "mssql_backups.json", jobs: str = "mssql_agent_jobs.json",
                  mutate=None) -> dict[str, tuple[list[str], list[tuple]]]:
    """The rows each SQL Server query answers, from the fixtures (``mutate`` edits them first)."""
    fx = json.loads((FIXTURES / backups).read_text(encoding="utf-8"))
    jfx = json.loads((FIXTURES / jobs).read_text(encoding="utf-8"))
    if mutate:
        mutate(fx, jfx)
    answers = {db_backup.SQLSERVER_INSTANCE: load_rows(fx["instance"]),
               db_backup.SQLSERVER_BACKUPS: load_rows(fx["backups"]),
               db_backup.SQLSERVER_JOBS: load_rows(jfx["jobs"]),
               db_backup.SQLSERVER_SCHEDULES: load_rows(jfx["schedules"])}
    if "ag" in fx:
        answers[db_backup.SQLSERVER_AG] = load_rows(fx["ag"])
    return answers


def mssql_conn(**kw: Any) -> FakeConnection:
    return FakeConnection(mssql_answers(**kw))


MSSQL_DSN = ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=tcp:his-db-01,1433;"
             "UID=wardround_monitor;Encrypt=yes")


def mssql_run(conn: Any, tmp_path: Path, ctx: CheckContext | None = None, **raw: Any) -> dict[str, Result]:
    pw = tmp_path / "pw"
    pw.write_text("Monitor#2026}\n")
    results = db_backup.run(params(engine="sqlserver", dsn=MSSQL_DSN, password_file=str(pw), **raw),
                            ctx or CheckContext(), connect=conn)
    assert_no_secret(results, "Monitor#2026}")
    return by_item(results)


def test_sqlserver_connects_read_only_with_the_password_from_the_file(tmp_path):
    conn = mssql_conn()
    mssql_run(conn, tmp_path)
    cs, kw = conn.connect_args
    assert cs == MSSQL_DSN + ";PWD={Monitor#2026}}}"
    assert kw == {"timeout": 10, "autocommit": True, "readonly": True}
    assert conn.timeout == 30 and conn.closed
    assert conn.executed == [(db_backup.SQLSERVER_INSTANCE, ()), (db_backup.SQLSERVER_BACKUPS, ()),
                             (db_backup.SQLSERVER_AG, ())]


def test_sqlserver_full_backup_ok_with_the_auditors_evidence(tmp_path):
    r = mssql_run(mssql_conn(), tmp_path)["master/full"]
    assert r.status is Status.OK
    assert r.summary == "master: full backup 2026-11-23 02:00 (6 h ago; expected within 26 h), 5 MiB"
    assert r.standard == "full backup within 26 h"
    d = r.details
    assert d["database"] == "master" and d["server"] == "HISDB01" and d["recovery_model"] == "SIMPLE"
    assert d["finished"] == "2026-11-23 02:00" and d["size_bytes"] == 5 * 2**20
    assert d["location"] == "D:\\Backup\\master\\master_full_20261123_0200.bak"
    assert {m.name: (m.value, m.unit, m.crit) for m in r.metrics} == {
        "age_seconds": (6 * 3600, "s", 26 * 3600), "size_bytes": (5 * 2**20, "B", None)}
    assert "master/log" not in mssql_run(mssql_conn(), tmp_path)  # SIMPLE recovery: no log item


def test_sqlserver_critical_when_no_full_backup_since_expected_time(tmp_path):
    # HISDB's newest regular full is 45 h old; a copy-only full 2 h ago and a restored msdb's row
    # from OLDHIS01 1 h ago must not hide that
    r = mssql_run(mssql_conn(), tmp_path)["HISDB/full"]
    assert r.status is Status.CRITICAL
    assert r.summary == ("HISDB: full backup missed: none since 2026-11-21 11:00 "
                         "(45 h ago; expected within 26 h)")
    assert r.details["verdict"] == ["missed"] and r.details["backup_server"] == "HISDB01"
    assert r.details["copy_only"] is False


def test_sqlserver_copy_only_backups_count_when_configured(tmp_path):
    r = mssql_run(mssql_conn(), tmp_path, copy_only=True)["HISDB/full"]
    assert r.status is Status.OK and r.details["copy_only"] is True
    assert "2026-11-23 06:00" in r.summary


def test_sqlserver_log_backups_judged_only_for_full_recovery(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path)
    assert results["HISDB/log"].status is Status.OK
    lis = results["LISDB/log"]
    assert lis.status is Status.CRITICAL
    assert lis.summary == ("LISDB: log backup stale: last one 2026-11-23 03:00 "
                           "(5 h ago; expected within 1 h)")
    pivas = results["PIVAS/log"]
    assert pivas.status is Status.CRITICAL and "never backed up (no log backup on record)" in pivas.summary


def test_sqlserver_too_small_full_backup_is_a_warning(tmp_path):
    r = mssql_run(mssql_conn(), tmp_path)["LISDB/full"]
    assert r.status is Status.WARNING
    assert r.summary == ("LISDB: full backup of 2026-11-23 02:00 too small: 1 GiB, below 50 % of the "
                         "median 8 GiB of the 8 before it")
    assert r.details["median_size_bytes"] == 8 * 2**30


def test_sqlserver_never_backed_up_and_new_database(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path)
    never = results["PACSDB/full"]
    assert never.status is Status.CRITICAL
    assert never.summary == "PACSDB: never backed up (no full backup on record)"
    assert never.metrics[0].name == "age_seconds" and never.metrics[0].value is None
    new = results["NEWDB/full"]
    assert new.status is Status.OK and new.summary.startswith("NEWDB: new database (created 2 h ago)")


def test_sqlserver_availability_group_secondary_is_skipped(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path)
    for item in ("EMRDB/full", "EMRDB/log"):
        assert results[item].status is Status.OK
        assert "not the preferred backup replica" in results[item].summary


def test_sqlserver_weekly_full_with_daily_differentials(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path, override=["PIVAS:full_max_age=8d"])
    assert results["PIVAS/full"].status is Status.OK
    diff = results["PIVAS/diff"]
    assert diff.status is Status.OK and diff.standard == "full or differential backup within 26 h"
    assert "differential backup 2026-11-23 02:00" in diff.summary
    assert "master/diff" not in results  # no differentials and full_max_age == diff_max_age


def test_sqlserver_unverified_when_checksums_are_required(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path, override=["PIVAS:full_max_age=8d"], require_checksum=True)
    r = results["PIVAS/diff"]
    assert r.status is Status.WARNING and "unverified: taken without CHECKSUM" in r.summary


def test_sqlserver_databases_and_exclude_filter(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path, databases=["*DB"], exclude=["PACS*"])
    assert {i.split("/")[0] for i in results} == {"HISDB", "LISDB", "NEWDB", "EMRDB"}


def test_sqlserver_query_refused_is_unknown_with_a_clean_message(tmp_path):
    class Denied(FakeConnection):
        def cursor(self):
            raise RuntimeError("42000", "[42000] The SELECT permission was denied on the object 'backupset', "
                                        "database 'msdb', schema 'dbo'. (229) PWD={Monitor#2026}}}")
    [r] = mssql_run(Denied({}), tmp_path).values()
    assert r.item == "catalog" and r.status is Status.UNKNOWN
    assert "SELECT permission was denied" in r.summary and "PWD=***" in r.summary


def test_sqlserver_login_failed_is_critical_and_never_shows_the_password(tmp_path):
    def refuse(cs, **kw):
        raise RuntimeError("28000", "[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"
                                    "Login failed for user 'wardround_monitor'. (18456) "
                                    f"(SQLDriverConnect) {cs}")
    [r] = mssql_run(refuse, tmp_path).values()
    assert r.item == "connection" and r.status is Status.CRITICAL
    assert r.summary.startswith("sqlserver: login failed: [28000]") and "Monitor#2026" not in r.summary
    zh = render(r.message, "zh_CN")  # our framing in Chinese, the driver's words as the driver wrote them
    assert zh.startswith("sqlserver：登录失败：[28000] [Microsoft]") and "Monitor#2026" not in zh


TLS_ERRORS = json.loads((FIXTURES / "odbc_tls_errors.json").read_text(encoding="utf-8"))


def refusing(state: str, message: str):
    """A connect seam that fails the way pyodbc does: (SQLSTATE, message)."""
    def refuse(cs, **kw):
        raise RuntimeError(state, message)
    return refuse


@pytest.mark.parametrize("case", TLS_ERRORS["certificate"], ids=lambda c: c["source"][:40])
def test_sqlserver_untrusted_certificate_is_a_configuration_problem_with_the_fix(tmp_path, case):
    # ODBC Driver 18 encrypts by default: a server that is up but has a self-signed certificate
    # is a setting to fix here, not a CRITICAL "cannot connect"
    [r] = mssql_run(refusing(case["state"], case["message"]), tmp_path).values()
    assert r.item == "connection" and r.status is Status.UNKNOWN, r.summary
    assert "TrustServerCertificate=yes" in r.summary and "CA" in r.summary
    assert "(-1)" in r.summary or "-2146893019" in r.summary  # the driver's words follow the fix


@pytest.mark.parametrize("case", TLS_ERRORS["tls_version"], ids=lambda c: c["source"][:40])
def test_sqlserver_no_common_tls_version_is_a_configuration_problem_with_the_fix(tmp_path, case):
    [r] = mssql_run(refusing(case["state"], case["message"]), tmp_path).values()
    assert r.item == "connection" and r.status is Status.UNKNOWN, r.summary
    assert "TLS 1.2 update" in r.summary and "unsupported protocol" in r.summary


def test_postgresql_untrusted_certificate_gets_the_generic_fix():
    # psqlODBC with sslmode=verify-ca passes libpq's words through
    err = _odbc.classify_connect_error(RuntimeError(
        "08001", "[08001] connection to server at \"10.1.2.5\", port 5432 failed: SSL error: "
                 "certificate verify failed (101) (SQLDriverConnect)"), None)
    assert isinstance(err, _odbc.ConfigError) and "TrustServerCertificate" not in err.summary
    assert err.summary.startswith("the server's TLS certificate is not trusted here: install")


def test_sqlserver_unreachable_server_stays_critical(tmp_path):
    refuse = refusing("08001", "[08001] [Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: "
                               "Error code 0x2749 (10057) (SQLDriverConnect)")
    [r] = mssql_run(refuse, tmp_path).values()
    assert r.item == "connection" and r.status is Status.CRITICAL and "cannot connect" in r.summary


def test_sqlserver_agent_jobs_failed_missed_and_ok(tmp_path):
    ctx = CheckContext()
    results = mssql_run(mssql_conn(), tmp_path, ctx, jobs=True)
    full = results["job/DatabaseBackup - USER_DATABASES - FULL"]
    assert full.status is Status.CRITICAL
    assert full.summary.startswith("DatabaseBackup - USER_DATABASES - FULL: failed at "
                                   "2026-11-23 02:00 after 0:12:03: The job failed.")
    assert full.details["last_run"] == "2026-11-23T02:00:05"
    logjob = results["job/DatabaseBackup - USER_DATABASES - LOG"]
    assert logjob.status is Status.WARNING  # failed at 03:30, succeeded since
    assert "failed at 2026-11-23 03:30" in logjob.summary
    assert "then succeeded at 2026-11-23 07:45" in logjob.summary
    weekly = results["job/DatabaseIntegrityCheck - USER_DATABASES"]
    assert weekly.status is Status.CRITICAL and "missed: has not run since 2026-11-19 01:00" in weekly.summary
    assert weekly.details["duration_seconds"] == 100 * 3600
    never = results["job/HIS nightly export"]
    assert never.status is Status.CRITICAL and "never run" in never.summary
    assert results["job/Ad hoc restore test"].status is Status.OK  # enabled but unscheduled
    assert "job/syspolicy_purge_history" not in results  # disabled
    assert ctx.state["sqlagent_last_instance_id"] == 5040


def test_sqlserver_agent_jobs_remember_what_they_saw(tmp_path):
    ctx = CheckContext(state={"sqlagent_last_instance_id": 5040})
    conn = mssql_conn()
    results = mssql_run(conn, tmp_path, ctx, jobs=True,
                        override=["job/DatabaseIntegrityCheck*:job_max_age=8d"])
    assert conn.executed[-2:] == [(db_backup.SQLSERVER_JOBS, (5040,)), (db_backup.SQLSERVER_SCHEDULES, ())]
    # the 03:30 failure was reported last time: the log job is fine now
    assert results["job/DatabaseBackup - USER_DATABASES - LOG"].status is Status.OK
    assert results["job/DatabaseIntegrityCheck - USER_DATABASES"].status is Status.OK


# --- SQL Server as it is in hospitals: renamed hosts, 2008 R2, AG secondaries, purged history

def test_sqlserver_renamed_host_still_finds_its_backups(tmp_path):
    # a cloned VM renamed after installation: @@SERVERNAME is the template's name, backupset has the new one
    results = mssql_run(mssql_conn(backups="mssql_renamed_host.json"), tmp_path)
    full, log = results["LISDB/full"], results["LISDB/log"]
    assert full.status is Status.OK and "LISDB: full backup 2026-11-23 02:00" in full.summary, full.summary
    assert log.status is Status.OK, log.summary
    assert full.details["backup_server"] == "HISDB02"
    assert full.details["server_names"] == {"@@SERVERNAME": "WIN-8T2K9QF4L1M",
                                            "SERVERPROPERTY('ServerName')": "HISDB02"}


@pytest.mark.parametrize("installed", ["WIN-8T2K9QF4L1M", "hisdb02"])
def test_sqlserver_renamed_host_judges_availability_group_databases_instead_of_skipping_them(tmp_path, installed):
    # sys.fn_hadr_backup_is_preferred_replica answers 0 on every replica when @@SERVERNAME differs from
    # SERVERPROPERTY('ServerName'), even in case only (Ola Hallengren #651): "not preferred" would hide
    # that no replica backs HISDB up
    def rename(fx, jfx):
        fx["instance"]["rows"][0][0] = installed
    results = mssql_run(mssql_conn(backups="mssql_renamed_host.json", mutate=rename), tmp_path)
    full = results["HISDB/full"]
    assert full.status is Status.CRITICAL, full.summary
    assert full.summary.startswith("HISDB: full backup missed: none since 2026-11-21 06:00")
    assert "cannot tell whether this replica should take the backups" in full.summary
    assert f"@@SERVERNAME '{installed}' differs from SERVERPROPERTY('ServerName') 'HISDB02'" in full.summary
    assert full.details["verdict"] == ["missed", "replica preference unknown"]
    log = results["HISDB/log"]
    assert log.status is Status.WARNING and "sp_dropserver" in log.summary, log.summary


def test_sqlserver_case_sensitive_collation_does_not_hide_this_servers_backups(tmp_path):
    def lower_case(fx, jfx):
        cols = fx["backups"]["columns"]
        for row in fx["backups"]["rows"]:
            for c in ("server_name", "machine_name"):
                if row[cols.index(c)]:
                    row[cols.index(c)] = row[cols.index(c)].lower()
    r = mssql_run(mssql_conn(mutate=lower_case), tmp_path)["master/full"]
    assert r.status is Status.OK, r.summary


class SqlServer2008R2(FakeConnection):
    """Answers like SQL Server 2008 R2: statements naming 2012-only objects fail to compile."""

    def cursor(self) -> FakeCursor:
        conn = self

        class Cursor(FakeCursor):
            def execute(self, sql: str, *params: Any) -> FakeCursor:
                if any(name in sql for name in ("replica_id", "fn_hadr", "dm_hadr", "availability_")):
                    conn.executed.append((sql, params))
                    # learn.microsoft.com database engine error 207, as ODBC Driver 17 reports it
                    raise RuntimeError("42S22", "[42S22] [Microsoft][ODBC Driver 17 for SQL Server][SQL Server]"
                                                "Invalid column name 'replica_id'. (207) (SQLExecDirectW)")
                return super().execute(sql, *params)
        return Cursor(self)


def mssql_2008r2_run(tmp_path: Path, **raw: Any) -> dict[str, Result]:
    answers = mssql_answers(backups="mssql_2008r2.json")
    answers[db_backup.SQLSERVER_AG] = (["database_name"], [])  # would be refused anyway
    conn = SqlServer2008R2(answers)
    results = mssql_run(conn, tmp_path, **raw)
    assert db_backup.SQLSERVER_AG not in [sql for sql, _ in conn.executed]
    return results


def test_sqlserver_2008_r2_is_judged_without_asking_for_availability_groups(tmp_path):
    results = mssql_2008r2_run(tmp_path, jobs=True)
    assert "catalog" not in results, results.get("catalog")
    assert results["master/full"].status is Status.OK
    assert results["HISDB/log"].status is Status.OK
    jobs = {i: r for i, r in results.items() if i.startswith("job/")}
    assert len(jobs) == 10 and not [r for r in jobs.values() if r.status is Status.UNKNOWN]


def test_sqlserver_mirrored_backup_media_counts_each_backup_once(tmp_path):
    # BACKUP ... MIRROR TO: one backupmediafamily row per mirror; the file shown is mirror 0's and the
    # size median compares distinct backups
    r = mssql_2008r2_run(tmp_path)["HISDB/full"]
    assert r.status is Status.WARNING, r.summary
    assert r.summary == ("HISDB: full backup of 2026-11-23 01:40 too small: 20 GiB, below 50 % of the "
                         "median 60 GiB of the 3 before it")
    assert r.details["location"] == "E:\\Backup\\HISDB\\HISDB_20261123.bak"


def test_sqlserver_partial_backups_count_as_full(tmp_path):
    r = mssql_2008r2_run(tmp_path)["HIS_ARCHIVE/full"]
    assert r.status is Status.OK, r.summary
    assert r.summary.startswith("HIS_ARCHIVE: partial full backup 2026-11-23 03:00")
    assert r.details["backup_type"] == "P"


def test_sqlserver_databases_that_are_not_online_are_reported(tmp_path):
    results = mssql_2008r2_run(tmp_path)
    suspect = results["PACSDB/full"]
    assert suspect.status is Status.CRITICAL
    assert suspect.summary.startswith("PACSDB: database is SUSPECT, damaged: SQL Server could not recover it")
    assert "full backup" in suspect.summary and suspect.details["verdict"][0] == "suspect"
    assert results["PACSDB/log"].status is Status.CRITICAL
    offline = results["EMR2012/full"]
    assert offline.status is Status.WARNING and "database is OFFLINE" in offline.summary
    mirror = results["LISDB/full"]
    assert mirror.status is Status.OK
    assert "the mirror of a database mirroring session: backed up on the principal" in mirror.summary


def test_sqlserver_restoring_database_that_is_no_mirror_is_a_warning(tmp_path):
    def standby(fx, jfx):
        cols = fx["backups"]["columns"]
        for row in fx["backups"]["rows"]:
            if row[0] == "LISDB":
                row[cols.index("mirroring_role_desc")] = None
    answers = mssql_answers(backups="mssql_2008r2.json", mutate=standby)
    r = mssql_run(SqlServer2008R2(answers), tmp_path)["LISDB/full"]
    assert r.status is Status.WARNING and "log-shipping standby" in r.summary


def test_sqlserver_model_in_full_recovery_has_no_log_item(tmp_path):
    results = mssql_2008r2_run(tmp_path)
    assert results["model/full"].status is Status.OK
    assert "model/log" not in results and results["model/full"].details["recovery_model"] == "FULL"


def test_sqlserver_availability_group_secondary_counts_its_copy_only_fulls(tmp_path):
    # backups run on the secondary, which can take only copy-only fulls (copy_only is not set)
    results = mssql_run(mssql_conn(backups="mssql_ag_secondary.json"), tmp_path)
    full = results["EMRDB/full"]
    assert full.status is Status.OK, full.summary
    assert full.summary.startswith("EMRDB: copy-only full backup 2026-11-23 01:00")
    assert full.details["copy_only"] is True and full.details["replica_role"] == "SECONDARY"
    assert full.details["availability_group"] == "AG_HIS" and full.details["preferred_replica"] is True
    assert results["EMRDB/log"].status is Status.OK


def test_sqlserver_copy_only_fulls_of_databases_outside_an_availability_group_still_need_copy_only(tmp_path):
    def leave_ag(fx, jfx):
        fx["ag"]["rows"] = []
    r = mssql_run(mssql_conn(backups="mssql_ag_secondary.json", mutate=leave_ag), tmp_path)["EMRDB/full"]
    assert r.status is Status.CRITICAL and "never backed up" in r.summary


def test_sqlserver_agent_job_with_purged_history_uses_sysjobservers(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path, jobs=True, override=["job/*SYSTEM_DATABASES*:job_max_age=8d"])
    weekly = results["job/DatabaseBackup - SYSTEM_DATABASES - FULL"]
    assert weekly.status is Status.OK, weekly.summary
    assert weekly.summary.startswith("DatabaseBackup - SYSTEM_DATABASES - FULL: last run succeeded at "
                                     "2026-11-22 01:30 (30.5 h ago), took 0:02:12")
    assert weekly.details["source"].startswith("msdb.dbo.sysjobservers")
    failed = results["job/HIS nightly statistics"]
    assert failed.status is Status.CRITICAL
    assert failed.summary.startswith("HIS nightly statistics: failed at 2026-11-23 03:00 after 0:00:45: "
                                     "The job failed.")


def test_sqlserver_agent_jobs_without_a_recurring_schedule_in_force_are_not_missed(tmp_path):
    results = mssql_run(mssql_conn(), tmp_path, jobs=True)
    once = results["job/HIS data migration 2026"]
    assert once.status is Status.OK and "no recurring schedule in force" in once.summary
    assert once.details["schedules"][0]["runs"] == "once"
    assert results["job/Start HIS interface"].status is Status.OK
    expired = results["job/LIS archive 2025"]
    assert expired.status is Status.OK and expired.details["scheduled"] is False, expired.summary


@pytest.mark.parametrize(("schedule", "today", "due"), [
    ({"freq_type": 4}, 20261123, True),
    ({"freq_type": 8, "active_end_date": 20261122}, 20261123, False),
    ({"freq_type": 8, "active_start_date": 20261124}, 20261123, False),
    ({"freq_type": 16, "enabled": 0}, 20261123, False),
    ({"freq_type": 1}, 20261123, False),
    ({"freq_type": 64}, 20261123, False),
    ({"freq_type": 128}, 20261123, False),
    ({"freq_type": 32}, None, True),
])
def test_job_is_due_only_on_recurring_schedules_in_force(schedule, today, due):
    assert db_backup.job_is_due([{"enabled": 1, **schedule}], today) is due


def oracle_conn(mutate=None, fixture: str = "oracle_rman.json") -> FakeConnection:
    fx = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    if mutate:
        mutate(fx)
    return FakeConnection({db_backup.ORACLE_RMAN_JOBS: load_rows(fx["rman_jobs"]),
                           db_backup.ORACLE_BACKUP_SETS: load_rows(fx["backup_sets"]),
                           db_backup.ORACLE_DATABASE: load_rows(fx["database"]),
                           db_backup.ORACLE_ARCHIVE_DESTS: load_rows(fx["archive_dests"])})


def oracle_run(conn: FakeConnection, **raw: Any) -> dict[str, Result]:
    return by_item(db_backup.run(params(engine="oracle", dsn="DSN=HISORA;UID=wardround_monitor", **raw),
                                 CheckContext(), connect=conn, environ={}))


def test_oracle_failed_rman_job_is_critical():
    conn = oracle_conn()
    results = oracle_run(conn)
    assert conn.executed[0] == (db_backup.ORACLE_RMAN_JOBS, (8.0,))
    r = results["rman/DB FULL"]
    assert r.status is Status.CRITICAL
    assert r.summary.startswith("RMAN: DB FULL failed: the job started 2026-11-23 01:00 ended FAILED; "
                                "last good one 2026-11-22 01:50")
    assert r.details["database"] == "HISORA" and r.details["log_mode"] == "ARCHIVELOG"
    assert r.details["backup_sets"][0]["backup_type"] == "D"


def test_oracle_completed_with_errors_is_critical():
    r = oracle_run(oracle_conn())["rman/DB INCR"]
    assert r.status is Status.CRITICAL and "ended COMPLETED WITH ERRORS" in r.summary


def test_oracle_archivelog_and_controlfile_ok_while_one_is_running():
    results = oracle_run(oracle_conn())
    arch = results["rman/ARCHIVELOG"]
    assert arch.status is Status.OK, arch.summary
    assert arch.standard == "ARCHIVELOG backup within 1 h" and len(arch.details["running"]) == 1
    assert results["rman/CONTROLFILE"].status is Status.OK


def test_oracle_too_small_and_missing_database_backup():
    def no_database_backups(fx):
        fx["rman_jobs"]["rows"] = [r for r in fx["rman_jobs"]["rows"] if r[1] not in ("DB FULL", "DB INCR")]

    def newest_archivelog_tiny(fx):
        newest = [r for r in fx["rman_jobs"]["rows"] if r[1] == "ARCHIVELOG" and r[2] == "COMPLETED"][-1]
        newest[6] = "1000"  # output_bytes

    r = oracle_run(oracle_conn(no_database_backups))["rman/DB FULL"]
    assert r.status is Status.CRITICAL
    assert r.summary == ("RMAN: DB FULL never backed up: no completed job in the last 8 d "
                         "(V$RMAN_BACKUP_JOB_DETAILS)")
    small = oracle_run(oracle_conn(newest_archivelog_tiny))["rman/ARCHIVELOG"]
    assert small.status is Status.WARNING and "too small: 1000 B" in small.summary


def test_oracle_missed_weekly_level_0_is_not_hidden_by_daily_level_1s():
    # both levels are "DB INCR" in V$RMAN_BACKUP_JOB_DETAILS; V$BACKUP_SET knows the level
    results = oracle_run(oracle_conn(fixture="oracle_incremental.json"),
                         override=["rman/level 0:full_max_age=8d"])
    assert results["rman/DB INCR"].status is Status.OK, results["rman/DB INCR"].summary
    level0 = results["rman/level 0"]
    assert level0.status is Status.CRITICAL
    assert level0.summary == ("RMAN: level 0 backup missed: none since 2026-11-15 02:35 "
                              "(8.2 d ago; expected within 8 d)")
    assert level0.standard == "level 0 backup within 8 d" and level0.details["source"] == "V$BACKUP_SET"


def test_oracle_level_0_within_its_age_is_ok_and_no_level_0_at_all_is_critical():
    ok = oracle_run(oracle_conn(fixture="oracle_incremental.json"), override=["rman/level 0:full_max_age=9d"])
    assert ok["rman/level 0"].status is Status.OK, ok["rman/level 0"].summary

    def no_level0(fx):
        fx["backup_sets"]["rows"] = [r for r in fx["backup_sets"]["rows"] if r[1] != "0"]
    r = oracle_run(oracle_conn(no_level0, fixture="oracle_incremental.json"))["rman/level 0"]
    assert r.status is Status.CRITICAL and "never backed up (no level 0 backup on record)" in r.summary
    assert "CONTROL_FILE_RECORD_KEEP_TIME" in r.summary


def test_oracle_job_running_with_errors_is_critical():
    r = oracle_run(oracle_conn(fixture="oracle_incremental.json"))["rman/ARCHIVELOG"]
    assert r.status is Status.CRITICAL
    assert r.summary.startswith("RMAN: ARCHIVELOG: the job started 2026-11-23 07:40 is RUNNING WITH ERRORS")
    assert r.details["verdict"] == ["errors", "stale"]  # the last completed one is 87 min old


def test_oracle_archive_destination_in_error_is_critical():
    r = oracle_run(oracle_conn(fixture="oracle_incremental.json"))["archive"]
    assert r.status is Status.CRITICAL
    assert r.summary == ("Archived redo: LOG_ARCHIVE_DEST_2 (hisora11_stby) is ERROR: "
                         "ORA-12541: TNS:no listener")
    assert [d["status"] for d in r.details["destinations"]] == ["VALID", "ERROR"]


@pytest.mark.parametrize(("status", "log_mode", "expected", "words"), [
    ("VALID", "ARCHIVELOG", Status.OK, "ARCHIVELOG mode; 2 destination(s) VALID"),
    ("DEFERRED", "ARCHIVELOG", Status.WARNING, "LOG_ARCHIVE_DEST_2 (hisora11_stby) is DEFERRED by hand"),
    ("FULL", "ARCHIVELOG", Status.CRITICAL, "is FULL"),
    ("VALID", "NOARCHIVELOG", Status.CRITICAL, "runs in NOARCHIVELOG mode: no online backup"),
])
def test_oracle_archiving_log_mode_and_destinations(status, log_mode, expected, words):
    def edit(fx):
        fx["archive_dests"]["rows"][1][2] = status
        fx["database"]["rows"][0][2] = log_mode
    r = oracle_run(oracle_conn(edit, fixture="oracle_incremental.json"))["archive"]
    assert r.status is expected and words in r.summary, r.summary


def test_oracle_archiving_false_leaves_the_archive_item_out_and_does_not_ask():
    conn = oracle_conn(fixture="oracle_incremental.json")
    results = oracle_run(conn, archiving=False)
    assert "archive" not in results
    assert db_backup.ORACLE_ARCHIVE_DESTS not in [sql for sql, _ in conn.executed]


# --------------------------------------------------------------------------- MariaDB / MySQL (real)

# MySQL Enterprise Backup's history table, after dev.mysql.com "MySQL Enterprise Backup 8.0:
# Using the MySQL Enterprise Backup Logs" (backup_history columns); MariaDB has no MEB, so the
# test creates the table as MEB would.
MEB_TABLE = """
CREATE TABLE mysql.backup_history (
  backup_id BIGINT NOT NULL, tool_name VARCHAR(4096) NOT NULL,
  start_time TIMESTAMP NOT NULL DEFAULT '2000-01-01 00:00:00',
  end_time TIMESTAMP NOT NULL DEFAULT '2000-01-01 00:00:00',
  binlog_pos BIGINT UNSIGNED NOT NULL DEFAULT 0, binlog_file VARCHAR(255) NOT NULL DEFAULT '',
  compression_level INT NOT NULL DEFAULT 0, engines VARCHAR(100) NOT NULL DEFAULT '',
  start_lsn BIGINT UNSIGNED NOT NULL DEFAULT 0, end_lsn BIGINT UNSIGNED NOT NULL DEFAULT 0,
  backup_type ENUM('FULL','PARTIAL','DIFFERENTIAL','INCREMENTAL','TTS') NOT NULL,
  backup_format ENUM('IMAGE','DIRECTORY') NOT NULL DEFAULT 'IMAGE',
  backup_destination VARCHAR(4096) NOT NULL DEFAULT '', lock_time DOUBLE(7,3) NOT NULL DEFAULT 0,
  exit_state ENUM('SUCCESS','FAILURE') NOT NULL, last_error VARCHAR(4096) NOT NULL DEFAULT '',
  last_error_code INT NOT NULL DEFAULT 0, start_time_utc BIGINT NOT NULL DEFAULT 0,
  end_time_utc BIGINT NOT NULL DEFAULT 0, meb_version VARCHAR(20) NOT NULL DEFAULT '8.0.40',
  server_uuid VARCHAR(36) NOT NULL DEFAULT '', PRIMARY KEY (backup_id)
) ENGINE=InnoDB
"""


def my_params(server, **raw: Any) -> db_backup.DbBackupParams:
    return params(engine="mariadb", dsn=server.dsn, password_file=str(server.password_file), **raw)


def meb_row(backup_id: int, btype: str, hours_ago: float, state: str = "SUCCESS", error: str = "") -> str:
    return (f"({backup_id}, 'mysqlbackup', NOW() - INTERVAL {int(hours_ago * 60) + 20} MINUTE, "
            f"NOW() - INTERVAL {int(hours_ago * 60)} MINUTE, '{btype}', '/backup/meb/{backup_id}', "
            f"'{state}', '{error}')")


def load_meb(server, *rows: str) -> None:
    server.sql("DROP TABLE IF EXISTS mysql.backup_history; " + MEB_TABLE + "; "
               "GRANT SELECT ON mysql.backup_history TO 'monitor'@'127.0.0.1'; "
               "INSERT INTO mysql.backup_history (backup_id, tool_name, start_time, end_time, backup_type, "
               "backup_destination, exit_state, last_error) VALUES " + ", ".join(rows))


def test_mariadb_without_meb_history_points_to_backup_files(mariadb_server):  # noqa: F811 (fixture)
    mariadb_server.sql("DROP TABLE IF EXISTS mysql.backup_history")
    [r] = db_backup.run(my_params(mariadb_server), CheckContext())
    assert r.status is Status.UNKNOWN and r.item == "meb"
    assert "mysql.backup_history" in r.summary and "backup_files" in r.summary


def test_mariadb_meb_history_ok_then_failed_then_missed(mariadb_server):  # noqa: F811 (fixture)
    load_meb(mariadb_server, meb_row(1, "FULL", 48), meb_row(2, "FULL", 24), meb_row(3, "FULL", 4))
    [r] = db_backup.run(my_params(mariadb_server), CheckContext())
    assert (r.item, r.status) == ("meb/full", Status.OK), r.summary
    assert r.summary.startswith("MySQL Enterprise Backup: full backup ")
    assert "(4 h ago; expected within 26 h)" in r.summary
    assert r.details["location"] == "/backup/meb/3" and r.details["backup_id"] == 3

    load_meb(mariadb_server, meb_row(2, "FULL", 24), meb_row(3, "FULL", 4, "FAILURE", "Disk full: /backup"),
             meb_row(4, "INCREMENTAL", 2))
    results = by_item(db_backup.run(my_params(mariadb_server), CheckContext()))
    assert results["meb/full"].status is Status.CRITICAL
    assert "full backup failed: backup 3 (FULL)" in results["meb/full"].summary
    assert "with FAILURE: Disk full: /backup" in results["meb/full"].summary
    assert results["meb/incremental"].status is Status.OK

    load_meb(mariadb_server, meb_row(2, "FULL", 50))
    [r] = db_backup.run(my_params(mariadb_server), CheckContext())
    assert r.status is Status.CRITICAL and "full backup missed: none since" in r.summary
    assert "(2.1 d ago; expected within 26 h)" in r.summary


def test_mariadb_wrong_password_is_critical_login_failed(mariadb_server, tmp_path):  # noqa: F811 (fixture)
    pw = tmp_path / "pw"
    pw.write_text("n0t-" + MARIADB_PASSWORD)
    results = db_backup.run(params(engine="mysql", dsn=mariadb_server.dsn, password_file=str(pw)),
                            CheckContext())
    [r] = results
    assert r.item == "connection" and r.status is Status.CRITICAL
    assert r.summary.startswith("mysql: login failed") and "Access denied" in r.summary
    assert_no_secret(results, "n0t-" + MARIADB_PASSWORD)


# --------------------------------------------------------------------------- deploy samples

REPO = Path(__file__).resolve().parents[2]


def load_example(tmp_path: Path, name: str):
    """A deploy/ sample with its Windows paths moved under tmp_path, through the agent's loader."""
    from agent.config import load_config
    text = (REPO / "deploy" / name).read_text(encoding="utf-8")
    text = text.replace("C:\\ProgramData\\Wardround\\", f"{tmp_path}/")
    (tmp_path / "agent.token").write_text("x" * 40 + "\n")
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_sqlserver_example_config_loads_with_the_agents_loader(tmp_path):
    cfg = load_example(tmp_path, "sqlserver-his.example.yaml")
    [db, patrol] = [c for c in cfg.checks if c.check == "db_backup"]
    assert db.params.engine == "sqlserver" and db.params.jobs and "PWD" not in db.params.dsn.upper()
    assert db.params.max_age("full_max_age", "HIS_ARCHIVE") == 8 * 86400
    assert "TrustServerCertificate=yes" in db.params.dsn and not db.params.exclude  # model/log is built in
    assert patrol.cron == "0 8 * * *"


def test_sqlserver_2008_r2_is_checked_from_a_newer_machine_and_reported_under_its_own_name(tmp_path):
    import dataclasses

    from agent.runner import CheckRun, Runner
    cfg = load_example(tmp_path, "sqlserver-2008r2-remote.example.yaml")
    assert cfg.host == "his-app-02"
    remote = [c for c in cfg.checks if c.host == "his-db-old"]
    assert {c.check for c in remote} == {"db_backup", "port"}
    db = next(c for c in remote if c.check == "db_backup" and c.every_s)
    assert db.params.dsn.startswith("DRIVER={ODBC Driver 17 for SQL Server};SERVER=tcp:10.1.2.20,1433;")
    (tmp_path / "sql-old-monitor.password").write_text("Old#Monitor1\n")
    conn = SqlServer2008R2(mssql_answers(backups="mssql_2008r2.json"))
    spec = dataclasses.replace(db.spec, run=lambda p, ctx: db_backup.run(p, ctx, connect=conn))
    results = Runner(cfg.site, cfg.host).run(CheckRun(spec=spec, params=db.params, timeout_s=db.timeout_s,
                                                      name=db.name, host=db.host or ""))
    assert {r.host for r in results} == {"his-db-old"} and {r.site for r in results} == {"central-hospital"}
    items = {r.item: r for r in results}
    assert items["HISDB/log"].status is Status.OK and items["HIS_ARCHIVE/full"].status is Status.OK
    assert items["job/DatabaseBackup - USER_DATABASES - FULL"].status is Status.CRITICAL
    assert not [r for r in results if r.status is Status.UNKNOWN], [r.summary for r in results]
    assert conn.connect_args[0].endswith(";APP=wardround;PWD={Old#Monitor1}")
    assert_no_secret(results, "Old#Monitor1")


def test_least_privilege_script_grants_no_sysadmin_and_covers_every_msdb_table_we_read():
    import sqlglot
    from sqlglot import exp
    script = (REPO / "deploy" / "sqlserver-least-privilege.sql").read_text().lower()
    statements = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    for forbidden in ("sysadmin", "alter server role", "sp_addsrvrolemember", "db_owner", "control server"):
        assert forbidden not in statements
    assert "grant view server state" in script
    for name in [n for n in db_backup.SQL_DIALECTS if n.startswith("SQLSERVER_")]:
        for table in sqlglot.parse_one(getattr(db_backup, name), read="tsql").find_all(exp.Table):
            if table.catalog.lower() == "msdb":
                assert f"grant select on dbo.{table.name.lower()} " in script
