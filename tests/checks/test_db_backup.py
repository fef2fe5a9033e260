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
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from checks import _odbc, db_backup
from checks.catalogue import get_check
from checks.context import CheckContext
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
    constants = {n for n in dir(db_backup) if n.isupper() and n.split("_")[0] in ("SQLSERVER", "ORACLE", "PG", "MYSQL")
                 and isinstance(getattr(db_backup, n), str)}
    assert constants == set(db_backup.SQL_DIALECTS)
    allowed_prefixes = ("msdb.dbo.", "sys.", "v$", "pg_", "information_schema.", "mysql.backup_history")
    for name, dialect in db_backup.SQL_DIALECTS.items():
        tree = sqlglot.parse_one(getattr(db_backup, name), read=dialect)
        ctes = {c.alias for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            full = ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()
            assert full in ctes or full.startswith(allowed_prefixes), f"{name} reads {full}"


def test_sqlserver_sql_keeps_only_this_servers_history():
    import sqlglot
    from sqlglot import exp
    tree = sqlglot.parse_one(db_backup.SQLSERVER_BACKUPS, read="tsql")
    conditions = [e.sql("tsql").lower() for e in tree.find_all(exp.EQ)]
    assert "b.server_name = @@servername" in conditions
    assert "d.state = 0" in conditions


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


def test_postgresql_archiving_critical_when_archive_command_fails_then_ok_when_fixed(pg_server):
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
    assert r.standard == "WAL archived within 1 h"


def test_postgresql_wrong_password_is_critical_login_failed_without_the_password(pg_server, tmp_path):
    wrong = "Wr0ng;{pass}"
    pw = tmp_path / "pw"
    pw.write_text(wrong + "\n")
    results = db_backup.run(params(engine="postgresql", dsn=pg_server.dsn, password_file=str(pw)),
                            CheckContext())
    [r] = results
    assert r.item == "connection" and r.status is Status.CRITICAL
    assert "login failed" in r.summary and "password authentication failed" in r.summary
    assert_no_secret(results, wrong)


def test_postgresql_unreachable_is_critical(pg_server, tmp_path):
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
    now = datetime.now(timezone.utc)
    fake = FakeRun(pgbackrest_info(now))
    [r] = db_backup.run(params(engine="postgresql", pgbackrest_stanza="main"), CheckContext(now=now), run=fake)
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
    now = datetime.now(timezone.utc)
    [r] = db_backup.run(params(engine="postgresql", pgbackrest_stanza="main"), CheckContext(now=now),
                        run=FakeRun(pgbackrest_info(now, **kw)))
    assert r.status is status and words in r.summary, r.summary


def test_pgbackrest_missing_or_hanging_is_unknown():
    p = params(engine="postgresql", pgbackrest_stanza="main", query_timeout=2)
    [r] = db_backup.run(p, CheckContext(), run=FakeRun(exc=FileNotFoundError("pgbackrest")))
    assert r.status is Status.UNKNOWN and "not installed" in r.summary
    [r] = db_backup.run(p, CheckContext(), run=FakeRun(exc=subprocess.TimeoutExpired("pgbackrest", 2)))
    assert r.status is Status.UNKNOWN and "within 2 s" in r.summary
