"""db_accounts tests.

PostgreSQL and MariaDB: the real throwaway servers of ``tests/checks/db_servers.py`` through the
real ODBC drivers, first as the monitoring login without grants (UNKNOWN, with the fix), then with
the grants of ``deploy/postgresql-least-privilege.sql`` / ``deploy/mysql-least-privilege.sql``
applied for real.  SQL Server rows from documented shapes (``fixtures/db_accounts_mssql.json``)
through the fake pyodbc connection of the db_backup tests.  Every SQL text is parsed with sqlglot.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from checks import db_accounts
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.db_servers import (  # noqa: F401  (pytest fixtures)
    MARIADB_PASSWORD,
    PG_PASSWORD,
    PGBIN,
    mariadb_server,
    pg_server,
)
from tests.checks.test_db_backup import FakeConnection, load_rows

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def params(**raw: Any) -> db_accounts.DbAccountsParams:
    return parse_params(db_accounts.DbAccountsParams, raw)


def by_item(results: list[Result]) -> dict[str, Result]:
    return {r.item: r for r in results}


def assert_no_secret(results: list[Result], *secrets: str) -> None:
    wire = json.dumps([r.to_wire() for r in results])
    for s in secrets:
        assert s not in wire


# --------------------------------------------------------------------------- parameters and SQL

def test_db_accounts_params_and_catalogue():
    assert get_check("db_accounts").params is db_accounts.DbAccountsParams
    assert params(engine="MariaDB").engine == "mysql"
    for raw, key in (({"engine": "oracle"}, "engine"), ({"dsn": "DSN=x;PWD=secret"}, "dsn"),
                     ({"password_file": "/a", "password_env": "B"}, "password_file")):
        with pytest.raises(ParamError) as err:
            params(**raw)
        assert err.value.errors[0][0] == key


@pytest.mark.parametrize("name", sorted(db_accounts.SQL_DIALECTS))
def test_db_accounts_sql_parses_in_its_dialect(name):
    import sqlglot
    parsed = sqlglot.parse(getattr(db_accounts, name), read=db_accounts.SQL_DIALECTS[name],
                           error_level=sqlglot.ErrorLevel.RAISE)
    assert len([p for p in parsed if p is not None]) == 1


def test_db_accounts_sql_constants_are_all_checked_and_select_no_hash():
    import sqlglot
    from sqlglot import exp
    constants = {n for n in dir(db_accounts) if n.split("_")[0] in ("SQLSERVER", "PG", "MYSQL", "MARIADB")
                 and n.isupper() and isinstance(getattr(db_accounts, n), str)}
    assert constants == set(db_accounts.SQL_DIALECTS)
    for name, dialect in db_accounts.SQL_DIALECTS.items():
        tree = sqlglot.parse_one(getattr(db_accounts, name), read=dialect)
        for projection in tree.expressions:
            # a hash column may be compared in the server, never selected as it is
            column = projection.this if isinstance(projection, exp.Alias) else projection
            if isinstance(column, exp.Column):
                assert column.name.lower() not in ("password_hash", "rolpassword", "authentication_string",
                                                   "priv", "password"), f"{name} selects {column.name}"


# --------------------------------------------------------------------------- SQL Server (rows)

MSSQL_DSN = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=tcp:his-db-01,1433;UID=wardround_monitor;Encrypt=yes"


def mssql(tmp_path: Path, mutate=None, **raw: Any) -> dict[str, Result]:
    table = json.loads((FIXTURES / "db_accounts_mssql.json").read_text())
    if mutate:
        mutate(table)
    conn = FakeConnection({db_accounts.SQLSERVER_LOGINS: load_rows(table)})
    pw = tmp_path / "pw"
    pw.write_text("Monitor#2026}\n")
    results = db_accounts.run(params(engine="sqlserver", dsn=MSSQL_DSN, password_file=str(pw), **raw),
                              CheckContext(), connect=conn)
    assert conn.connect_args[1]["readonly"] is True and conn.closed
    assert_no_secret(results, "Monitor#2026}")
    return by_item(results)


def test_sqlserver_sa_policy_and_blank_passwords(tmp_path):
    r = mssql(tmp_path)
    assert r["sqlserver/sa"].status is Status.WARNING
    assert r["sqlserver/sa"].summary == "sa is enabled (as sa) and the server accepts SQL logins"
    assert r["sqlserver/policy_off"].status is Status.WARNING
    assert r["sqlserver/policy_off"].details["accounts"] == ["his_app"]  # old_pacs is disabled
    blank = r["sqlserver/empty_password"]
    assert blank.status is Status.CRITICAL and blank.details["accounts"] == ["lis_iface"]
    assert blank.details["disabled_with_blank_password"] == ["old_pacs"]
    assert blank.standard == "no login with an empty password" and blank.details["server"] == "HISDB01"


def test_sqlserver_renamed_and_disabled_sa_and_windows_only(tmp_path):
    def renamed(t):
        for row in t["rows"]:
            if row[0] == "sa":
                row[0], row[2] = "his_sa_disabled", 1
    assert mssql(tmp_path, renamed)["sqlserver/sa"].summary == "sa (his_sa_disabled) is disabled"

    def windows_only(t):
        for row in t["rows"]:
            row[6] = 1
    r = mssql(tmp_path, windows_only)
    assert r["sqlserver/sa"].status is Status.OK and "Windows authentication only" in r["sqlserver/sa"].summary


def test_sqlserver_least_privilege_login_gets_unknown_with_the_grant_it_needs(tmp_path):
    def no_control_server(t):
        for row in t["rows"]:
            row[5], row[8] = None, 0
    r = mssql(tmp_path, no_control_server)
    assert r["sqlserver/empty_password"].status is Status.UNKNOWN
    assert "need CONTROL SERVER" in r["sqlserver/empty_password"].summary
    assert "sqlserver/empty_password" not in mssql(tmp_path, no_control_server, blank_passwords=False)

    def sees_only_itself(t):
        t["rows"] = [row for row in t["rows"] if row[0] in ("sa", "wardround_monitor")]
        for row in t["rows"]:
            row[7] = 0
    r = mssql(tmp_path, sees_only_itself)
    assert r["sqlserver/policy_off"].status is Status.UNKNOWN and "VIEW ANY DEFINITION" in \
        r["sqlserver/policy_off"].summary


# --------------------------------------------------------------------------- PostgreSQL (real)

def pg_run(server, **raw: Any) -> dict[str, Result]:
    results = db_accounts.run(params(engine="postgresql", dsn=server.dsn,
                                     password_file=str(server.password_file), **raw), CheckContext())
    assert_no_secret(results, PG_PASSWORD)
    return by_item(results)


def apply_pg_script(server) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / "psql"), "-h", str(server.root), "-p",
                    str(server.port), "-U", "postgres", "-d", "postgres", "-v", "monitor=monitor", "-q",
                    "-f", str(REPO / "deploy" / "postgresql-least-privilege.sql")],
                   capture_output=True, text=True, timeout=60, check=True)


def test_postgresql_least_privilege_first_unknown_then_judged_after_the_deploy_script(pg_server):  # noqa: F811
    pg_server.psql("DROP SCHEMA IF EXISTS wardround CASCADE; REVOKE SELECT ON pg_hba_file_rules FROM monitor; "
                   "REVOKE EXECUTE ON FUNCTION pg_hba_file_rules() FROM monitor")
    r = pg_run(pg_server)
    assert r["postgresql/trust"].status is Status.UNKNOWN
    assert "permission denied" in r["postgresql/trust"].summary
    assert "deploy/postgresql-least-privilege.sql" in r["postgresql/trust"].summary
    assert r["postgresql/no_password"].status is Status.UNKNOWN
    assert "superusers only" in r["postgresql/no_password"].summary

    apply_pg_script(pg_server)
    r = pg_run(pg_server)
    trust = r["postgresql/trust"]
    # initdb --auth-local=trust: the socket lines trust every local user
    assert trust.status is Status.WARNING, trust.summary
    assert trust.summary.startswith("trust on local connections (any local user connects without a password): ")
    assert render(trust.message, "zh_CN").startswith("本机连接使用 trust 认证（任何本机用户都不需要密码即可连接）：第 ")
    assert render(trust.standard_message, "zh_CN") == "pg_hba.conf 中没有 trust 认证"
    assert all(line["type"] == "local" for line in trust.details["trust_lines"])
    roles = r["postgresql/no_password"]
    assert roles.status is Status.OK and roles.details["source"] == "helper"


def test_postgresql_role_without_password_and_network_trust(pg_server):  # noqa: F811
    apply_pg_script(pg_server)
    hba = pg_server.data / "pg_hba.conf"
    original = hba.read_text()
    pg_server.psql("DROP ROLE IF EXISTS his_reader; CREATE ROLE his_reader LOGIN")
    try:
        hba.write_text(original + "host    all    all    10.20.0.0/16    trust\n")
        r = pg_run(pg_server)
        roles = r["postgresql/no_password"]
        assert roles.status is Status.WARNING and roles.details["accounts"] == ["his_reader"]
        assert "login role(s) without a password" in roles.summary
        trust = r["postgresql/trust"]
        assert trust.status is Status.CRITICAL
        assert re.search(r"line \d+: host all all 10\.20\.0\.0 trust", trust.summary), trust.summary
    finally:
        hba.write_text(original)
        pg_server.psql("DROP ROLE IF EXISTS his_reader")


def test_postgresql_superuser_reads_pg_authid_where_there_is_no_helper(pg_server, tmp_path):  # noqa: F811
    pw = tmp_path / "pw"
    pw.write_text("postgres-admin\n")
    dsn = pg_server.dsn.replace("UID=monitor", "UID=postgres").replace("DATABASE=postgres", "DATABASE=template1")
    r = by_item(db_accounts.run(params(engine="postgresql", dsn=dsn, password_file=str(pw)), CheckContext()))
    assert r["postgresql/no_password"].details["source"] == "pg_authid"
    assert r["postgresql/no_password"].status is Status.OK


# --------------------------------------------------------------------------- MariaDB (real)

def my_run(server) -> dict[str, Result]:
    results = db_accounts.run(params(engine="mariadb", dsn=server.dsn, password_file=str(server.password_file)),
                              CheckContext())
    assert_no_secret(results, MARIADB_PASSWORD)
    return by_item(results)


def deploy_grant() -> str:
    """The active (not commented) GRANT of deploy/mysql-least-privilege.sql, for the test's monitor login."""
    lines = [ln for ln in (REPO / "deploy" / "mysql-least-privilege.sql").read_text().splitlines()
             if ln.startswith("GRANT ")]
    [grant] = lines
    return grant.replace("'wardround_monitor'@'10.0.0.15'", "'monitor'@'127.0.0.1'")


def test_mariadb_monitor_without_grant_is_unknown_then_finds_root_without_password(mariadb_server):  # noqa: F811
    mariadb_server.sql("GRANT SELECT ON mysql.global_priv TO 'monitor'@'127.0.0.1'; "
                       "REVOKE SELECT ON mysql.global_priv FROM 'monitor'@'127.0.0.1'")
    r = my_run(mariadb_server)
    for item in ("mysql/empty_password", "mysql/anonymous", "mysql/root_any_host"):
        assert r[item].status is Status.UNKNOWN and "command denied" in r[item].summary
        assert "grant SELECT on mysql.global_priv (deploy/mysql-least-privilege.sql)" in r[item].summary

    mariadb_server.sql(deploy_grant())
    r = my_run(mariadb_server)
    empty = r["mysql/empty_password"]
    # the fixture installs root with --auth-root-authentication-method=normal: no password
    assert empty.status is Status.CRITICAL and "'root'@'localhost'" in empty.details["accounts"]
    assert not any("mariadb.sys" in a for a in empty.details["accounts"])  # locked, so not a way in
    assert r["mysql/anonymous"].status is Status.OK
    assert r["mysql/root_any_host"].status is Status.OK
    assert r["mysql/root_any_host"].summary.startswith("root only from ")


def test_mariadb_anonymous_account_and_root_from_any_host(mariadb_server):  # noqa: F811
    mariadb_server.sql(deploy_grant())
    mariadb_server.sql("DROP USER IF EXISTS ''@'%'; DROP USER IF EXISTS 'root'@'%'; "
                       "CREATE USER ''@'%'; CREATE USER 'root'@'%' IDENTIFIED BY 'Rem0te-root!'")
    try:
        r = my_run(mariadb_server)
        assert r["mysql/anonymous"].status is Status.CRITICAL
        assert r["mysql/anonymous"].details["accounts"] == ["''@'%'"]
        assert r["mysql/root_any_host"].status is Status.WARNING
        assert r["mysql/root_any_host"].summary == "root may log in from any host: 'root'@'%'"
        assert "''@'%'" in r["mysql/empty_password"].details["accounts"]
        assert "'root'@'%'" not in r["mysql/empty_password"].details["accounts"]
    finally:
        mariadb_server.sql("DROP USER IF EXISTS ''@'%'; DROP USER IF EXISTS 'root'@'%'")


def test_db_accounts_wrong_password_is_critical_and_no_dsn_unknown(mariadb_server, tmp_path):  # noqa: F811
    pw = tmp_path / "pw"
    pw.write_text("n0t-it\n")
    [r] = db_accounts.run(params(engine="mysql", dsn=mariadb_server.dsn, password_file=str(pw)), CheckContext())
    assert r.item == "connection" and r.status is Status.CRITICAL and "login failed" in r.summary
    [r] = db_accounts.run(params(engine="mysql"), CheckContext())
    assert r.status is Status.UNKNOWN and r.summary.startswith("dsn: no ODBC connection string")
