"""restore_drill tests.

PostgreSQL and MariaDB for real: the throwaway servers of ``tests/checks/db_servers.py`` hold a
source database ``his`` (a patient table); real ``pg_dump`` / ``mariadb-dump`` write its backups;
the drill restores them with the real ``pg_restore`` / ``psql`` / ``mariadb`` clients into
throwaway databases on the same servers (as a scratch server: a least-privilege ``drill`` login
that may only create and drop its own databases) and the tests look in the server catalog that
every throwaway database is gone afterwards.  SQL Server: RESTORE HEADERONLY / FILELISTONLY rows in
their documented shapes through a fake pyodbc connection.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from checks import restore_drill
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.restore_drill import sql as drill_sql
from checks.result import Result, Status
from tests.checks.db_servers import PGBIN, mariadb_server, pg_server  # noqa: F401  (pytest fixtures)
from tests.checks.test_db_backup import FakeConnection, FakeCursor

DRILL_PG_PASSWORD = "dr1ll;{pg}"
DRILL_MY_PASSWORD = "dr1ll;{my}\"q"
OLD = 3600  # seconds: every backup file here is an hour old (settled)


def params(**raw: Any) -> restore_drill.RestoreDrillParams:
    return parse_params(restore_drill.RestoreDrillParams, raw)


def metric(r: Result, name: str) -> float | None:
    return next(m.value for m in r.metrics if m.name == name)


def assert_no_secret(r: Result, secret: str) -> None:
    assert secret not in json.dumps(r.to_wire())


def age(path: Path, seconds: float = OLD) -> None:
    t = datetime.now(UTC).timestamp() - seconds
    os.utime(path, (t, t))


# --------------------------------------------------------------------------- parameters and SQL

def test_restore_drill_params_and_catalogue():
    spec = get_check("restore_drill")
    assert spec.params is restore_drill.RestoreDrillParams and spec.timeout_s == 3600
    assert params(engine="MariaDB").engine == "mysql"
    for raw, key in (({"engine": "oracle"}, "engine"), ({"target_dsn": "DSN=x;PWD=y"}, "target_dsn"),
                     ({"source_dsn": "DSN=x;Password=y"}, "source_dsn"), ({"max_duration": 0}, "max_duration")):
        with pytest.raises(ParamError) as err:
            params(**raw)
        assert err.value.errors[0][0] == key


@pytest.mark.parametrize("name", sorted(drill_sql.SQL_DIALECTS))
def test_restore_drill_sql_parses_in_its_dialect(name):
    import sqlglot
    sql = getattr(drill_sql, name).format(name="wardround_drill_0badcafe_20261205080000_a1b2c3", id=42)
    parsed = sqlglot.parse(sql, read=drill_sql.SQL_DIALECTS[name], error_level=sqlglot.ErrorLevel.RAISE)
    assert len([p for p in parsed if p is not None]) == 1


def test_throwaway_names_are_unique_safe_and_tagged():
    now = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    a, b = (restore_drill.throwaway_name("host|postgresql|/backups|*.dump", now) for _ in range(2))
    assert a != b and a.rsplit("_", 1)[0] == b.rsplit("_", 1)[0]
    assert a.startswith("wardround_drill_") and len(a) <= 63 and a.replace("_", "").isalnum()


@pytest.mark.parametrize(("dsn", "server"), [
    ("DRIVER={x};SERVER=tcp:HIS-DB-01,1433;UID=a", ("his-db-01", 1433)),
    ("DRIVER={x};SERVER=his-db-01\\SQLEXPRESS;UID=a", ("his-db-01\\sqlexpress", 1433)),
    ("DRIVER={x};SERVER=127.0.0.1;PORT=5433", ("localhost", 5433)),
    ("DRIVER={x};SERVER=(local)", ("localhost", 1433)),
])
def test_servers_are_compared_by_host_and_port(dsn, server):
    assert restore_drill.server_of(dsn, "sqlserver" if "5433" not in dsn else "postgresql") == server


# --------------------------------------------------------------------------- PostgreSQL (real)

@dataclass
class PgDrill:
    server: Any
    backups: Path
    password_file: Path

    @property
    def target_dsn(self) -> str:
        return (f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT={self.server.port};DATABASE=postgres;"
                "UID=drill")

    def run(self, ctx: CheckContext | None = None, **raw: Any) -> Result:
        raw.setdefault("path", str(self.backups))
        raw.setdefault("pattern", "*.dump")
        [r] = restore_drill.run(params(engine="postgresql", target_dsn=self.target_dsn,
                                       password_file=str(self.password_file), **raw), ctx or CheckContext())
        assert_no_secret(r, DRILL_PG_PASSWORD)
        return r

    def throwaway_databases(self) -> list[str]:
        out = self.server.psql("SELECT datname FROM pg_database WHERE datname LIKE 'wardround_drill_%'")
        return [line for line in out.splitlines() if line]

    def dump(self, target: Path, *args: str) -> None:
        """pg_dump of his (as postgres, who can write only its own directory), moved to ``target``."""
        tmp = self.server.root / "dumps"
        tmp.mkdir(exist_ok=True)
        shutil.chown(tmp, "postgres")
        out = tmp / target.name
        subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / "pg_dump"), "-h", str(self.server.root),
                        "-p", str(self.server.port), "-U", "postgres", *args, "-f", str(out), "his"],
                       check=True, capture_output=True, timeout=60)
        shutil.move(str(out), target)
        age(target)


@pytest.fixture(scope="module")
def pg_drill(pg_server, tmp_path_factory) -> Iterator[PgDrill]:  # noqa: F811
    pg_server.psql("DROP DATABASE IF EXISTS his")
    pg_server.psql("CREATE DATABASE his")
    subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / "psql"), "-h", str(pg_server.root), "-p",
                    str(pg_server.port), "-U", "postgres", "-d", "his", "-v", "ON_ERROR_STOP=1", "-qc",
                    "DROP ROLE IF EXISTS reporting; CREATE ROLE reporting; "
                    "CREATE TABLE patient (id int PRIMARY KEY, name text NOT NULL); "
                    "INSERT INTO patient VALUES (1, 'Zhang San'), (2, 'Li Si'), (3, 'Wang Wu'); "
                    "GRANT SELECT ON patient TO reporting"], check=True, capture_output=True, timeout=30)
    pg_server.psql(f"DROP ROLE IF EXISTS drill; CREATE ROLE drill LOGIN CREATEDB PASSWORD '{DRILL_PG_PASSWORD}'")
    root = tmp_path_factory.mktemp("pg-drill")
    pw = root / "drill.password"
    pw.write_text(DRILL_PG_PASSWORD + "\n")
    pw.chmod(0o600)
    backups = root / "backups"
    backups.mkdir()
    drill = PgDrill(pg_server, backups, pw)
    drill.dump(backups / "his_20261205_0200.dump", "-Fc")
    yield drill
    pg_server.psql("DROP DATABASE IF EXISTS his")


def test_postgresql_custom_dump_restores_probes_and_is_dropped(pg_drill):
    r = pg_drill.run(probe="SELECT id FROM patient WHERE name = 'Zhang San'", max_duration="10m")
    assert r.status is Status.OK, r.summary
    assert r.summary.startswith("his_20261205_0200.dump (")
    assert "restored into wardround_drill_" in r.summary and r.summary.endswith("; dropped")
    d = r.details
    assert d["format"] == "pg_custom" and d["source_database"] == "his" and d["dropped"] is True
    assert d["probe"] == {"sql": "SELECT id FROM patient WHERE name = 'Zhang San'", "default": False,
                          "outcome": "row"}
    assert {"list", "create", "restore", "probe", "drop"} <= set(d["steps"])
    assert metric(r, "restored_size_bytes") > 1_000_000  # an empty PostgreSQL database alone is ~7 MB
    assert 0 < metric(r, "duration_seconds") < 600 and metric(r, "backup_age_seconds") >= OLD - 5
    assert r.standard == "the newest backup restores and answers the probe within 10 min"
    zh = render(r.message, "zh_CN")
    assert zh.startswith("his_20261205_0200.dump（") and "已恢复到 wardround_drill_" in zh and zh.endswith("；已删除")
    assert render(r.standard_message, "zh_CN") == "最新备份能在 10 分钟内恢复，且能响应探测查询"
    assert pg_drill.throwaway_databases() == []


def test_postgresql_plain_gzip_dump_with_create_database_owners_and_grants(pg_drill, tmp_path):
    plain = tmp_path / "his.sql"
    pg_drill.dump(plain, "-Fp", "-C")
    text = plain.read_text()
    assert "CREATE DATABASE his" in text and "\\connect his" in text and "GRANT SELECT ON TABLE public.patient" in text
    with open(plain, "rb") as src, gzip.open(tmp_path / "his.sql.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()
    age(tmp_path / "his.sql.gz")
    r = pg_drill.run(path=str(tmp_path), pattern="*.sql.gz")
    assert r.status is Status.OK, r.summary
    assert r.details["format"] == "pg_plain" and r.details["compression"] == "gzip"
    assert r.details["source_database"] == "his" and r.details["probe"]["default"] is True
    assert pg_drill.throwaway_databases() == []


def test_postgresql_corrupt_dump_is_critical_and_leaves_nothing(pg_drill, tmp_path):
    good = (pg_drill.backups / "his_20261205_0200.dump").read_bytes()
    (tmp_path / "his.dump").write_bytes(good[: len(good) // 2])
    age(tmp_path / "his.dump")
    r = pg_drill.run(path=str(tmp_path))
    assert r.status is Status.CRITICAL, r.summary
    assert r.summary.startswith("restore of his.dump failed: pg_restore")
    assert pg_drill.throwaway_databases() == []


def test_postgresql_probe_without_a_row_is_critical(pg_drill):
    r = pg_drill.run(probe="SELECT id FROM patient WHERE id < 0")
    assert r.status is Status.CRITICAL and r.summary.endswith("but the probe returned no row")
    assert r.details["dropped"] is True and pg_drill.throwaway_databases() == []
    r = pg_drill.run(probe="SELECT id FROM no_such_table")
    assert r.status is Status.CRITICAL and "the probe failed" in r.summary and "no_such_table" in r.summary


def test_postgresql_target_that_is_the_production_database_is_refused(pg_drill):
    [r] = restore_drill.run(params(engine="postgresql", path=str(pg_drill.backups), pattern="*.dump",
                                   target_dsn=pg_drill.target_dsn.replace("DATABASE=postgres", "DATABASE=his"),
                                   password_file=str(pg_drill.password_file)), CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith("refused: target_dsn is the production database his")
    assert "create" not in r.details["steps"] and pg_drill.throwaway_databases() == []
    # the source named by source_dsn: the same rule
    [r] = restore_drill.run(params(engine="postgresql", path=str(pg_drill.backups), pattern="*.dump",
                                   target_dsn=pg_drill.target_dsn.replace("DATABASE=postgres", "DATABASE=HIS"),
                                   source_dsn=f"DRIVER={{PostgreSQL Unicode}};SERVER=localhost;"
                                              f"PORT={pg_drill.server.port};DATABASE=his",
                                   password_file=str(pg_drill.password_file)), CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith("refused")


def test_postgresql_drill_past_its_time_limit_is_stopped_and_dropped(pg_drill, tmp_path):
    (tmp_path / "slow.sql").write_text("--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t (n int);\n"
                                       "SELECT pg_sleep(60);\n\n--\n-- PostgreSQL database dump complete\n--\n\n")
    age(tmp_path / "slow.sql")
    # a 12-s check keeps 10 s for the drop: the drill's limit is 2 s
    r = pg_drill.run(CheckContext(timeout_s=12), path=str(tmp_path), pattern="*.sql")
    assert r.status is Status.UNKNOWN, r.summary
    assert "did not finish within the drill's time limit (2 s of the check's 12 s; psql stopped" in r.summary
    assert r.details["dropped"] is True and pg_drill.throwaway_databases() == []
    r = pg_drill.run(CheckContext(timeout_s=12), path=str(tmp_path), pattern="*.sql", max_duration="1s")
    assert r.status is Status.WARNING and "already longer than max_duration 1 s" in r.summary


def test_postgresql_leftover_of_an_interrupted_drill_is_dropped_first(pg_drill):
    tag_source = f"{socket.gethostname()}|postgresql|{pg_drill.backups}|*.dump"
    leftover = restore_drill.throwaway_name(tag_source, datetime.now(UTC) - timedelta(days=7))
    pg_drill.server.psql(f'CREATE DATABASE "{leftover}" OWNER drill')
    r = pg_drill.run()
    assert r.status is Status.OK and r.details["leftovers_dropped"] == [leftover]
    assert pg_drill.throwaway_databases() == []


def test_postgresql_slow_drill_past_max_duration_is_a_warning(pg_drill):
    r = pg_drill.run(max_duration="1ms")
    assert r.status is Status.WARNING and r.summary.startswith("drill took ")
    assert "longer than max_duration 1 ms" in r.summary


def test_missing_backups_and_configuration(pg_drill, tmp_path):
    r = pg_drill.run(path=str(tmp_path))
    assert r.status is Status.CRITICAL and r.summary.startswith("no file matches *.dump")
    (tmp_path / "fresh.dump").write_bytes(b"PGDMP")
    r = pg_drill.run(path=str(tmp_path))
    assert r.status is Status.UNKNOWN and "still being written" in r.summary
    [r] = restore_drill.run(params(engine="postgresql", path=str(tmp_path)), CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith("target_dsn: not configured")
    (tmp_path / "x.dump").write_text("-- MySQL dump 10.19\n")
    age(tmp_path / "x.dump", OLD + 5)
    os.unlink(tmp_path / "fresh.dump")
    r = pg_drill.run(path=str(tmp_path))
    assert r.status is Status.UNKNOWN and "is a mysql file, not a postgresql backup" in r.summary
    r = pg_drill.run(path=str(tmp_path), client_bin=str(tmp_path))
    assert r.status is Status.UNKNOWN


# --------------------------------------------------------------------------- MariaDB (real)

@dataclass
class MyDrill:
    server: Any
    backups: Path
    password_file: Path

    @property
    def target_dsn(self) -> str:
        return f"DRIVER={{MariaDB Unicode}};SERVER=127.0.0.1;PORT={self.server.port};UID=drill"

    def run(self, path: Path | None = None, **raw: Any) -> Result:
        [r] = restore_drill.run(params(engine="mariadb", path=str(path or self.backups), pattern="*.sql*",
                                       target_dsn=raw.pop("target_dsn", self.target_dsn),
                                       password_file=str(self.password_file), **raw), CheckContext())
        assert_no_secret(r, DRILL_MY_PASSWORD)
        return r

    def throwaway_databases(self) -> list[str]:
        return [x for x in self.server.sql("SHOW DATABASES LIKE 'wardround\\_drill\\_%'").splitlines() if x]

    def dump(self, target: Path, *args: str) -> None:
        out = subprocess.run(["mariadb-dump", f"--socket={self.server.root / 'sock'}", "-uroot", *args],
                             check=True, capture_output=True, timeout=60).stdout
        target.write_bytes(out)
        age(target)


@pytest.fixture(scope="module")
def my_drill(mariadb_server, tmp_path_factory) -> Iterator[MyDrill]:  # noqa: F811
    s = mariadb_server
    s.sql("DROP DATABASE IF EXISTS his; DROP DATABASE IF EXISTS lis; CREATE DATABASE his; CREATE DATABASE lis; "
          "CREATE TABLE his.patient (id int PRIMARY KEY, name varchar(50) NOT NULL) DEFAULT CHARSET=utf8mb4; "
          "INSERT INTO his.patient VALUES (1, '张三'), (2, '李四'); CREATE TABLE lis.sample (id int)")
    quoted = DRILL_MY_PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
    s.sql(f"DROP USER IF EXISTS 'drill'@'127.0.0.1'; CREATE USER 'drill'@'127.0.0.1' IDENTIFIED BY '{quoted}'; "
          "GRANT ALL ON `wardround\\_drill\\_%`.* TO 'drill'@'127.0.0.1'")
    root = tmp_path_factory.mktemp("my-drill")
    pw = root / "drill.password"
    pw.write_text(DRILL_MY_PASSWORD + "\n")
    backups = root / "backups"
    backups.mkdir()
    drill = MyDrill(s, backups, pw)
    drill.dump(backups / "his_20261205.sql", "--databases", "his")
    yield drill
    s.sql("DROP DATABASE IF EXISTS his; DROP DATABASE IF EXISTS lis; DROP USER IF EXISTS 'drill'@'127.0.0.1'")


def test_mariadb_dump_restores_with_the_mysql_client_and_is_dropped(my_drill):
    text = (my_drill.backups / "his_20261205.sql").read_text()
    assert "USE `his`;" in text and "CREATE DATABASE" in text  # --databases: the filter has work to do
    r = my_drill.run(probe="SELECT id FROM patient WHERE name = '张三'")
    assert r.status is Status.OK, r.summary
    d = r.details
    assert d["format"] == "mysql" and d["source_database"] == "his" and d["source_host"] == "localhost"
    assert d["dropped"] is True and d["steps"]["verify"]["outcome"] == "ok"
    assert metric(r, "restored_size_bytes") > 0
    assert my_drill.throwaway_databases() == []
    assert my_drill.server.sql("SELECT COUNT(*) FROM his.patient") == "2"  # the source untouched


def test_mariadb_truncated_and_broken_dumps_are_critical(my_drill, tmp_path):
    text = (my_drill.backups / "his_20261205.sql").read_text()
    (tmp_path / "cut.sql").write_text(text[: len(text) // 2])
    age(tmp_path / "cut.sql")
    r = my_drill.run(tmp_path)
    assert r.status is Status.CRITICAL and "incomplete dump" in r.summary and "not restorable" in r.summary
    os.unlink(tmp_path / "cut.sql")
    (tmp_path / "broken.sql").write_text(text.replace("CREATE TABLE `patient`", "CREATE TABEL `patient`"))
    age(tmp_path / "broken.sql")
    r = my_drill.run(tmp_path)
    assert r.status is Status.CRITICAL, r.summary
    assert r.summary.startswith("restore of broken.sql failed: mysql failed (exit 1): ERROR 1064")
    assert my_drill.throwaway_databases() == []


def test_mariadb_probe_without_a_row_is_critical(my_drill):
    r = my_drill.run(probe="SELECT id FROM patient WHERE id > 1000")
    assert r.status is Status.CRITICAL and r.summary.endswith("but the probe returned no row")
    assert my_drill.throwaway_databases() == []


def test_mariadb_production_target_refused_and_several_databases_refused(my_drill, tmp_path):
    r = my_drill.run(target_dsn=my_drill.target_dsn + ";DATABASE=his")
    assert r.status is Status.UNKNOWN, r.summary
    assert r.summary.startswith("refused: target_dsn is the production database his")
    my_drill.dump(tmp_path / "both.sql", "--databases", "his", "lis")
    r = my_drill.run(tmp_path)
    assert r.status is Status.UNKNOWN and "several databases (his, lis)" in r.summary
    assert r.details["dropped"] is True and my_drill.throwaway_databases() == []


def test_mariadb_statement_still_running_after_the_time_limit_is_killed_and_dropped(my_drill, tmp_path):
    text = (my_drill.backups / "his_20261205.sql").read_text()
    slow = text.replace("UNLOCK TABLES;", "UNLOCK TABLES;\nCREATE TABLE held (n int);\n"
                                          "INSERT INTO held SELECT SLEEP(60);", 1)
    (tmp_path / "slow.sql").write_text(slow)
    age(tmp_path / "slow.sql")
    began = time.monotonic()
    [r] = restore_drill.run(params(engine="mysql", path=str(tmp_path), pattern="*.sql",
                                   target_dsn=my_drill.target_dsn, password_file=str(my_drill.password_file)),
                            CheckContext(timeout_s=12))  # a 2-s limit
    assert r.status is Status.UNKNOWN and "did not finish within the drill's time limit" in r.summary
    assert r.details["dropped"] is True and my_drill.throwaway_databases() == []
    assert time.monotonic() - began < 30  # the drop did not wait for the statement the client left behind


def test_mariadb_wrong_password_for_the_scratch_server_is_critical(my_drill, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    [r] = restore_drill.run(params(engine="mysql", path=str(my_drill.backups), pattern="*.sql",
                                   target_dsn=my_drill.target_dsn, password_file=str(pw)), CheckContext())
    assert r.status is Status.CRITICAL and r.summary.startswith("scratch server: login failed")


# --------------------------------------------------------------------------- SQL Server (rows)

class DrainingCursor(FakeCursor):
    def nextset(self) -> bool:
        return False


class MssqlScratch(FakeConnection):
    def cursor(self) -> DrainingCursor:
        return DrainingCursor(self)

    def __call__(self, connection_string: str, **kw: Any) -> MssqlScratch:
        self.connections = [*getattr(self, "connections", []), (connection_string, kw)]
        return self


HEADER_COLS = ["BackupName", "BackupType", "Position", "DatabaseName", "ServerName", "BackupStartDate",
               "BackupFinishDate", "BackupSize", "HasBackupChecksums", "IsCopyOnly", "Compressed"]


def mssql_scratch(tmp_path: Path, verify_error: Exception | None = None) -> tuple[MssqlScratch, str, Path]:
    """A .bak holding a full (position 1) and a differential (2) of HISDB from HISDB01, as HEADERONLY lists."""
    backups = tmp_path / "backups"
    backups.mkdir(parents=True)
    bak = backups / "HISDB_full_20261205_0200.bak"
    bak.write_bytes(b"TAPE" + b"\x00" * 4092)
    age(bak)
    header = [("HISDB-Full", 1, 1, "HISDB", "HISDB01", datetime(2026, 12, 5, 1, 48), datetime(2026, 12, 5, 2, 0),
               Decimal(5 * 2**30), True, False, True),
              ("HISDB-Diff", 5, 2, "HISDB", "HISDB01", datetime(2026, 12, 5, 12, 0), datetime(2026, 12, 5, 12, 3),
               Decimal(2**28), True, False, True)]
    files = [("HISDB", "D:\\Data\\HISDB.mdf", "D", "PRIMARY", Decimal(6 * 2**30)),
             ("HISDB_log", "L:\\Log\\HISDB_log.ldf", "L", None, Decimal(2**30))]
    server_path = "\\\\nas01\\backup\\his"
    conn = MssqlScratch({
        restore_drill.SQLSERVER_SERVER: (["server_name", "database_name", "data_path", "log_path"],
                                         [("SCRATCH01", "master", "E:\\Data\\", "E:\\Log\\")]),
        restore_drill.SQLSERVER_HEADERONLY: (HEADER_COLS, header),
        restore_drill.SQLSERVER_VERIFYONLY_CHECKSUM: ([], []),
        restore_drill.SQLSERVER_FILELISTONLY: (["LogicalName", "PhysicalName", "Type", "FileGroupName", "Size"],
                                               files),
        restore_drill.SQLSERVER_LEFTOVERS: (["name"], []),
        restore_drill.SQLSERVER_PROBE: (["found"], [(1,)]),
        restore_drill.SQLSERVER_SIZE: (["bytes"], [(Decimal(7 * 2**30),)]),
    })
    if verify_error is not None:
        original = conn.cursor

        def failing_cursor() -> DrainingCursor:
            cur = original()
            execute = cur.execute

            def execute_or_fail(sql: str, *args: Any) -> DrainingCursor:
                if sql.startswith("RESTORE VERIFYONLY"):
                    raise verify_error
                return execute(sql, *args)
            cur.execute = execute_or_fail  # type: ignore[method-assign]
            return cur
        conn.cursor = failing_cursor  # type: ignore[method-assign]
    return conn, server_path, backups


def mssql_run(conn: MssqlScratch, backups: Path, server_path: str, tmp_path: Path, **raw: Any) -> Result:
    pw = tmp_path / "pw"
    pw.write_text("Dr1ll#2026}\n")
    [r] = restore_drill.run(params(engine="sqlserver", path=str(backups), pattern="*.bak", server_path=server_path,
                                   target_dsn="DRIVER={ODBC Driver 18 for SQL Server};SERVER=tcp:scratch01,1433;"
                                              "DATABASE=master;UID=wardround_drill", password_file=str(pw), **raw),
                            CheckContext(), connect=conn)
    assert_no_secret(r, "Dr1ll#2026}")
    return r


def test_sqlserver_headeronly_verifyonly_restore_with_moves_probe_and_drop(tmp_path):
    conn, server_path, backups = mssql_scratch(tmp_path)
    executed: list[tuple[str, tuple]] = []

    def answer_restore(sql: str) -> None:
        if sql.startswith(("RESTORE DATABASE", "IF DB_ID(")):
            conn.answers[sql] = ([], [])
    original = DrainingCursor.execute

    def execute(self, sql, *args):
        answer_restore(sql)
        executed.append((sql, args))
        return original(self, sql, *args)
    DrainingCursor.execute = execute  # type: ignore[method-assign]
    try:
        r = mssql_run(conn, backups, server_path, tmp_path)
    finally:
        DrainingCursor.execute = original  # type: ignore[method-assign]
    assert r.status is Status.OK, r.summary
    device = server_path + "\\HISDB_full_20261205_0200.bak"
    verify = [e for e in executed if e[0].startswith("RESTORE VERIFYONLY")]
    assert verify == [(restore_drill.SQLSERVER_VERIFYONLY_CHECKSUM, (device, 1))]
    [restore] = [e for e in executed if e[0].startswith("RESTORE DATABASE")]
    name = r.details["throwaway_database"]
    assert restore[0] == f"RESTORE DATABASE [{name}] FROM DISK = ? WITH FILE = ?, MOVE ? TO ?, MOVE ? TO ?, RECOVERY"
    assert restore[1] == (device, 1, "HISDB", f"E:\\Data\\{name}_0.mdf", "HISDB_log", f"E:\\Log\\{name}_1.ldf")
    assert any(e[0].startswith(f"IF DB_ID(N'{name}')") for e in executed)  # dropped
    # the probe ran on its own connection to the restored database, read-only
    probe_conn = [c for c in conn.connections if f"DATABASE={name}" in c[0]]
    assert probe_conn and probe_conn[0][1]["readonly"] is True
    assert r.details["source_database"] == "HISDB" and r.details["source_host"] == "HISDB01"
    assert r.details["target_server"] == "SCRATCH01" and metric(r, "restored_size_bytes") == 7 * 2**30


def test_sqlserver_verifyonly_failure_is_critical_and_restore_false_stops_there(tmp_path):
    import pyodbc  # the error type the driver raises
    error = pyodbc.Error("42000", "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]The media family "
                                  "on device '\\\\nas01\\backup\\his\\HISDB_full_20261205_0200.bak' is incorrectly "
                                  "formed. SQL Server cannot process this media family. (3241)")
    conn, server_path, backups = mssql_scratch(tmp_path, verify_error=error)
    r = mssql_run(conn, backups, server_path, tmp_path)
    assert r.status is Status.CRITICAL and "RESTORE VERIFYONLY failed (42000)" in r.summary
    assert "incorrectly formed" in r.summary
    conn, server_path, backups = mssql_scratch(tmp_path / "b")
    r = mssql_run(conn, backups, server_path, tmp_path, restore=False)
    assert r.status is Status.OK and "RESTORE VERIFYONLY passed (HISDB" in r.summary
    assert not any(sql.startswith("RESTORE DATABASE") for sql, _ in conn.executed)


def test_sqlserver_restore_on_the_source_server_and_database_is_refused(tmp_path):
    conn, server_path, backups = mssql_scratch(tmp_path)
    conn.answers[restore_drill.SQLSERVER_SERVER] = (["server_name", "database_name", "data_path", "log_path"],
                                                    [("HISDB01", "HISDB", "D:\\Data\\", "L:\\Log\\")])
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    [r] = restore_drill.run(params(engine="sqlserver", path=str(backups), pattern="*.bak",
                                   target_dsn="DRIVER={ODBC Driver 18 for SQL Server};SERVER=HISDB01;DATABASE=HISDB;"
                                              "UID=wardround_drill", password_file=str(pw)),
                            CheckContext(), connect=conn)
    assert r.status is Status.UNKNOWN and r.summary.startswith("refused: target_dsn is the production database hisdb")
    assert not any(sql.startswith("RESTORE DATABASE") for sql, _ in conn.executed)
