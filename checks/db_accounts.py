"""db_accounts: the database's own password protection, read over ODBC.

Reads the engine's account catalog; every query returns names and yes/no
answers, never a password hash (the comparison happens in the server).  The
password is read from ``password_file`` or ``password_env`` and added to the
connection string only at connect time.

=========== =================================================================
engine      what is read, and the least privilege it needs
=========== =================================================================
sqlserver   ``sys.sql_logins`` (the ``sa`` login is the one with SID 0x01,
            whatever it is called now; ``is_policy_checked``; a blank
            password by ``PWDCOMPARE('', password_hash)``) and whether the
            server accepts SQL logins at all.  Needs ``VIEW ANY DEFINITION``
            to see every login; the blank-password test needs ``CONTROL
            SERVER`` (without it the item is UNKNOWN, or leave it out with
            ``blank_passwords: false``)
postgresql  ``pg_hba_file_rules`` (the ``trust`` lines of pg_hba.conf, and
            lines with errors) and the login roles without a password.
            Both are superuser-only by default; for a monitoring role run
            ``deploy/postgresql-least-privilege.sql``: it grants read access
            to ``pg_hba_file_rules`` and installs
            ``wardround.login_roles_without_password()``, a SECURITY DEFINER
            function that answers names only
mysql,      MariaDB 10.4+: ``mysql.global_priv``; MySQL 5.7/8:
mariadb     ``mysql.user``.  Needs ``SELECT`` on that table
            (``deploy/mysql-least-privilege.sql``); note that this lets the
            login read password hashes: give it a password of its own and
            allow it only from the agent's host
=========== =================================================================

Items, one result each (names in the summary and in ``details.accounts``):

============================= ======== ====================================
item                          status   meaning
============================= ======== ====================================
sqlserver/sa                  WARNING  ``sa`` enabled while the server
                                       accepts SQL logins
sqlserver/policy_off          WARNING  enabled SQL logins with
                                       CHECK_POLICY off
sqlserver/empty_password      CRITICAL enabled SQL logins with a blank
                                       password
postgresql/trust              CRITICAL ``trust`` for connections over the
                                       network (host lines not limited to
                                       the loopback address)
                              WARNING  ``trust`` on local (socket or
                                       loopback) lines; pg_hba.conf lines
                                       with errors
postgresql/no_password        WARNING  login roles without a password,
                                       except ``no_password_ok``
mysql/empty_password          CRITICAL accounts (user@host) with an empty
                                       password
mysql/anonymous               CRITICAL anonymous accounts (empty user name)
mysql/root_any_host           WARNING  ``root`` allowed from any host ('%')
connection                    CRITICAL the database refused the login or did
                                       not answer
(any of the above)            OK       none found
                              UNKNOWN  no dsn or password source, driver
                                       missing, a catalog the login may not
                                       read (the reason and the grant that
                                       fixes it)
============================= ======== ====================================

Metrics: ``accounts`` (count of accounts or lines in the item's finding).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from checks import _logs, _odbc
from checks._params.db_accounts import ENGINES, DbAccountsParams  # noqa: F401 (re-exported: the old import path)
from checks.context import CheckContext
from checks.messages import fit_summary, listed, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "db_accounts"
MAX_NAMES = 100
log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)


# --------------------------------------------------------------------------- SQL (catalogs only)

#: SQL Server: every SQL login except the certificate-based ## ones; ``sa`` is SID 0x01.  The hash
#: itself never leaves the server: PWDCOMPARE answers 1 or 0, and NULL when the login may not see
#: hashes (CONTROL SERVER).  Sources: learn.microsoft.com sys.sql_logins, PWDCOMPARE,
#: HAS_PERMS_BY_NAME, SERVERPROPERTY('IsIntegratedSecurityOnly').
SQLSERVER_LOGINS = """
SELECT l.name AS login_name, CASE WHEN l.sid = 0x01 THEN 1 ELSE 0 END AS is_sa,
       l.is_disabled, l.is_policy_checked, l.is_expiration_checked,
       CASE WHEN l.password_hash IS NULL THEN NULL
            WHEN PWDCOMPARE('', l.password_hash) = 1 THEN 1 ELSE 0 END AS empty_password,
       CAST(SERVERPROPERTY('IsIntegratedSecurityOnly') AS int) AS windows_auth_only,
       HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW ANY DEFINITION') AS sees_all_logins,
       HAS_PERMS_BY_NAME(NULL, NULL, 'CONTROL SERVER') AS sees_hashes,
       @@SERVERNAME AS server_name
FROM sys.sql_logins AS l
WHERE l.name NOT LIKE '##%'
ORDER BY l.name
"""

#: PostgreSQL: pg_hba.conf lines that let anyone in without a password, and lines PostgreSQL could not
#: parse.  Source: postgresql.org pg_hba_file_rules (PostgreSQL 10+).
PG_HBA = """
SELECT line_number, type, array_to_string(database, ',') AS databases,
       array_to_string(user_name, ',') AS users, address, netmask, auth_method, error
FROM pg_hba_file_rules
WHERE auth_method = 'trust' OR error IS NOT NULL
ORDER BY line_number
"""

#: PostgreSQL: is the least-privilege helper installed, and is this login a superuser?
PG_ACCESS = """
SELECT CASE WHEN to_regprocedure('wardround.login_roles_without_password()') IS NULL THEN 0 ELSE 1 END
           AS has_helper,
       CASE WHEN r.rolsuper THEN 1 ELSE 0 END AS is_superuser
FROM pg_roles AS r
WHERE r.rolname = current_user
"""

#: PostgreSQL: login roles without a password, through the helper (deploy/postgresql-least-privilege.sql).
PG_ROLES_HELPER = "SELECT rolname, is_superuser FROM wardround.login_roles_without_password()"

#: PostgreSQL: the same straight from pg_authid (superusers only).  Source: postgresql.org pg_authid.
PG_ROLES_AUTHID = """
SELECT rolname, CASE WHEN rolsuper THEN 1 ELSE 0 END AS is_superuser
FROM pg_authid
WHERE rolcanlogin AND rolpassword IS NULL
ORDER BY rolname
"""

#: Which server this is (MariaDB keeps accounts in mysql.global_priv since 10.4).
MYSQL_VERSION = "SELECT VERSION() AS version"

#: MariaDB 10.4+: accounts from mysql.global_priv (JSON; JSON_VALUE gives a JSON true as '1').
#: Source: mariadb.com mysql.global_priv table.
MARIADB_ACCOUNTS = """
SELECT User AS user_name, Host AS host_name,
       COALESCE(JSON_VALUE(Priv, '$.plugin'), '') AS plugin,
       CASE WHEN COALESCE(JSON_VALUE(Priv, '$.authentication_string'), '') = '' THEN 1 ELSE 0 END
           AS no_auth_string,
       CASE WHEN JSON_VALUE(Priv, '$.account_locked') IN ('1', 'true') THEN 1 ELSE 0 END AS locked,
       CASE WHEN JSON_VALUE(Priv, '$.is_role') IN ('1', 'true') THEN 1 ELSE 0 END AS is_role
FROM mysql.global_priv
ORDER BY User, Host
"""

#: MySQL 5.7/8: accounts from mysql.user.  Source: dev.mysql.com "Grant Tables" (mysql.user).
MYSQL_ACCOUNTS = """
SELECT User AS user_name, Host AS host_name, plugin,
       CASE WHEN authentication_string IS NULL OR authentication_string = '' THEN 1 ELSE 0 END
           AS no_auth_string,
       CASE WHEN account_locked = 'Y' THEN 1 ELSE 0 END AS locked, 0 AS is_role
FROM mysql.user
ORDER BY User, Host
"""

SQL_DIALECTS = {  # for the test that parses every statement
    "SQLSERVER_LOGINS": "tsql", "PG_HBA": "postgres", "PG_ACCESS": "postgres", "PG_ROLES_HELPER": "postgres",
    "PG_ROLES_AUTHID": "postgres", "MYSQL_VERSION": "mysql", "MARIADB_ACCOUNTS": "mysql",
    "MYSQL_ACCOUNTS": "mysql",
}

#: MySQL/MariaDB authentication plugins that check a password (the others: unix_socket, gssapi, pam...)
PASSWORD_PLUGINS = frozenset({"", "mysql_native_password", "mysql_old_password", "caching_sha2_password",
                              "sha256_password", "ed25519", "parsec"})
LOOPBACK = ("127.0.0.1", "::1", "127.0.0.0", "localhost")


# --------------------------------------------------------------------------- results

HBA = "pg_hba.conf"


def _standard(what: str) -> str:
    """The standard of item ``what`` (sa, policy_off, empty_password, trust, no_password, anonymous,
    root_any_host): the key ``db_accounts.standard.<what>``."""
    return say(f"db_accounts.standard.{what}", file=HBA)


def _finding(engine: str, what: str, status: Status, summary: str, names: list[str],
             details: Mapping[str, Any]) -> Result:
    return Result(check=NAME, item=f"{engine}/{what}", status=status, summary=fit_summary(summary),
                  standard=_standard(what), metrics=(Metric("accounts", float(len(names)), "count", min=0),),
                  details={**details, "accounts": [str.__str__(n) for n in names[:MAX_NAMES]]})


def _unknown(engine: str, what: str, summary: str, details: Mapping[str, Any]) -> Result:
    return Result(check=NAME, item=f"{engine}/{what}", status=Status.UNKNOWN, summary=fit_summary(summary),
                  standard=_standard(what), details=dict(details))


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(v)


# --------------------------------------------------------------------------- SQL Server

def judge_sqlserver(rows: list[dict[str, Any]], params: DbAccountsParams) -> list[Result]:
    """Results from the rows of :data:`SQLSERVER_LOGINS`."""
    e = "sqlserver"
    first = rows[0] if rows else {}
    base = {"engine": e, "server": first.get("server_name"), "source": "sys.sql_logins"}
    windows_only = _truthy(first.get("windows_auth_only"))
    results: list[Result] = []
    enabled = [r for r in rows if not _truthy(r.get("is_disabled"))]
    sa = next((r for r in rows if _truthy(r.get("is_sa"))), None)
    if windows_only:
        results.append(_finding(e, "sa", Status.OK, say("db_accounts.sa_windows_only"), [],
                                {**base, "windows_auth_only": True}))
    elif sa is None:
        results.append(_unknown(e, "sa", say("db_accounts.sa_not_visible", sid="0x01"), base))
    elif _truthy(sa.get("is_disabled")):
        results.append(_finding(e, "sa", Status.OK, say("db_accounts.sa_disabled", login=str(sa["login_name"])),
                                [], base))
    else:
        results.append(_finding(e, "sa", Status.WARNING, say("db_accounts.sa_enabled", login=str(sa["login_name"])),
                                [str(sa["login_name"])], base))
    if rows and not _truthy(first.get("sees_all_logins")):
        results.append(_unknown(e, "policy_off", say("db_accounts.policy_not_visible"), base))
    else:
        off = [str(r["login_name"]) for r in enabled if not _truthy(r.get("is_policy_checked"))]
        results.append(_finding(e, "policy_off", Status.WARNING if off else Status.OK,
                                say("db_accounts.policy_off", n=len(off), names=listed(off)) if off else
                                say("db_accounts.policy_on", n=len(enabled)), off, base))
    if params.blank_passwords:
        if rows and any(r.get("empty_password") is None for r in enabled):
            results.append(_unknown(e, "empty_password",
                                    say("db_accounts.hashes_not_visible", setting="blank_passwords: false"), base))
        else:
            blank = [str(r["login_name"]) for r in enabled if _truthy(r.get("empty_password"))]
            disabled = [str(r["login_name"]) for r in rows
                        if _truthy(r.get("is_disabled")) and _truthy(r.get("empty_password"))]
            results.append(_finding(e, "empty_password", Status.CRITICAL if blank else Status.OK,
                                    say("db_accounts.blank", n=len(blank), names=listed(blank)) if blank
                                    else say("db_accounts.no_blank", n=len(enabled)),
                                    blank, {**base, "disabled_with_blank_password": disabled}))
    return results


# --------------------------------------------------------------------------- PostgreSQL

def _loopback(address: Any) -> bool:
    a = str(address or "").strip().lower()
    return a in LOOPBACK or a.startswith("127.") or a in ("samehost",)


def judge_pg_hba(rows: list[dict[str, Any]]) -> Result:
    """The ``postgresql/trust`` result from the rows of :data:`PG_HBA`."""
    e = "postgresql"
    lines: list[dict[str, Any]] = []
    network: list[str] = []
    local: list[str] = []
    errors: list[str] = []
    for r in rows:
        if r.get("error"):
            errors.append(say("db_accounts.hba_line", line=str(r.get("line_number")), text=str(r["error"])))
            continue
        rule = (f"{r.get('type')} {r.get('databases')} {r.get('users')}"
                + (f" {r.get('address')}" if r.get("address") else "") + " trust")  # the file's own words
        label = say("db_accounts.hba_line", line=str(r.get("line_number")), text=rule)
        lines.append({"line": r.get("line_number"), "type": r.get("type"), "databases": r.get("databases"),
                      "users": r.get("users"), "address": r.get("address"), "netmask": r.get("netmask")})
        if str(r.get("type")) == "local" or _loopback(r.get("address")):
            local.append(label)
        else:
            network.append(label)
    details = {"engine": e, "source": "pg_hba_file_rules", "trust_lines": lines,
               "errors": [str.__str__(x) for x in errors]}
    if network:
        return _finding(e, "trust", Status.CRITICAL, say("db_accounts.trust_network", lines=network[:6]),
                        network + local, details)
    if local or errors:
        parts = ([say("db_accounts.trust_local", lines=local[:6])] if local else []) + \
                ([say("db_accounts.hba_errors", file=HBA, errors=errors[:3])] if errors else [])
        return _finding(e, "trust", Status.WARNING, say("results.joined", parts=parts), local, details)
    return _finding(e, "trust", Status.OK, say("db_accounts.no_trust", file=HBA), [], details)


def judge_pg_roles(rows: list[dict[str, Any]], params: DbAccountsParams, source: str) -> Result:
    e = "postgresql"
    allowed = set(params.no_password_ok)
    names = [str(r["rolname"]) for r in rows if str(r["rolname"]) not in allowed]
    supers = [str(r["rolname"]) for r in rows if _truthy(r.get("is_superuser")) and str(r["rolname"]) in names]
    details = {"engine": e, "source": source, "allowed": sorted(allowed & {str(r["rolname"]) for r in rows}),
               "superusers": supers}
    if names:
        return _finding(e, "no_password", Status.WARNING,
                        say("db_accounts.roles_without_password", n=len(names), file=HBA, names=listed(names)),
                        names, details)
    allowed_names = ", ".join(details["allowed"])
    return _finding(e, "no_password", Status.OK,
                    say("db_accounts.roles_all_except", names=allowed_names) if allowed_names
                    else say("db_accounts.standard.no_password"), [], details)


def _pg_grant_hint(error: str) -> str:
    return say("db_accounts.pg_grant", error=error, script="deploy/postgresql-least-privilege.sql")


def _postgresql(params: DbAccountsParams, q: _odbc.Query) -> list[Result]:
    e = "postgresql"
    results: list[Result] = []
    try:
        results.append(judge_pg_hba(q(PG_HBA, what="pg_hba_file_rules")))
    except _odbc.QueryFailed as exc:
        results.append(_unknown(e, "trust", _pg_grant_hint(exc.summary), {"engine": e}))
    [access] = q(PG_ACCESS, what="pg_roles") or [{}]
    try:
        if _truthy(access.get("has_helper")):
            rows, source = q(PG_ROLES_HELPER, what="wardround.login_roles_without_password()"), "helper"
        elif _truthy(access.get("is_superuser")):
            rows, source = q(PG_ROLES_AUTHID, what="pg_authid"), "pg_authid"
        else:
            raise _odbc.QueryFailed(say("db_accounts.superusers_only", table="pg_authid"))
        results.append(judge_pg_roles(rows, params, source))
    except _odbc.QueryFailed as exc:
        results.append(_unknown(e, "no_password", _pg_grant_hint(exc.summary), {"engine": e}))
    return results


# --------------------------------------------------------------------------- MySQL / MariaDB

def judge_mysql(rows: list[dict[str, Any]], source: str) -> list[Result]:
    """Results from the rows of :data:`MARIADB_ACCOUNTS` or :data:`MYSQL_ACCOUNTS`."""
    e = "mysql"
    live = [r for r in rows if not _truthy(r.get("locked")) and not _truthy(r.get("is_role"))]

    def account(r: dict[str, Any]) -> str:
        return f"'{r.get('user_name') or ''}'@'{r.get('host_name') or ''}'"

    base = {"engine": e, "source": source, "accounts_checked": len(live)}
    empty = [account(r) for r in live if _truthy(r.get("no_auth_string"))
             and str(r.get("plugin") or "") in PASSWORD_PLUGINS]
    anonymous = [account(r) for r in live if not r.get("user_name")]
    root_any = [account(r) for r in live if r.get("user_name") == "root" and r.get("host_name") == "%"]
    root_hosts = sorted({str(r.get("host_name")) for r in live if r.get("user_name") == "root"})
    return [
        _finding(e, "empty_password", Status.CRITICAL if empty else Status.OK,
                 say("db_accounts.empty", n=len(empty), names=listed(empty)) if empty
                 else say("db_accounts.no_empty", n=len(live)), empty, base),
        _finding(e, "anonymous", Status.CRITICAL if anonymous else Status.OK,
                 say("db_accounts.anonymous", names=listed(anonymous)) if anonymous
                 else say("db_accounts.no_anonymous"), anonymous, base),
        _finding(e, "root_any_host", Status.WARNING if root_any else Status.OK,
                 say("db_accounts.root_any_host", names=listed(root_any)) if root_any
                 else say("db_accounts.root_only_from", hosts=", ".join(root_hosts)) if root_hosts
                 else say("db_accounts.root_nowhere"), root_any,
                 {**base, "root_hosts": root_hosts}),
    ]


def _mysql(params: DbAccountsParams, q: _odbc.Query) -> list[Result]:
    [row] = q(MYSQL_VERSION, what="VERSION()")
    mariadb = "mariadb" in str(row.get("version", "")).lower()
    sql, table = (MARIADB_ACCOUNTS, "mysql.global_priv") if mariadb else (MYSQL_ACCOUNTS, "mysql.user")
    try:
        rows = q(sql, what=table)
    except _odbc.QueryFailed as exc:
        hint = say("db_accounts.mysql_grant", error=exc.summary, table=table,
                   script="deploy/mysql-least-privilege.sql")
        return [_unknown("mysql", what, hint, {"engine": "mysql", "source": table})
                for what in ("empty_password", "anonymous", "root_any_host")]
    return judge_mysql(rows, table)


# --------------------------------------------------------------------------- run

def run(params: DbAccountsParams, ctx: CheckContext, *,
        connect: Callable[..., Any] | None = None,
        environ: Mapping[str, str] = os.environ) -> list[Result]:
    try:
        conn, password = _odbc.open_connection(params.dsn, params.password_file, params.password_env, environ,
                                               login_timeout=params.login_timeout,
                                               query_timeout=params.query_timeout, driver=connect)
    except _odbc.ConfigError as exc:
        return [Result(check=NAME, item="connection", status=Status.UNKNOWN, summary=exc.summary)]
    except _odbc.DbError as exc:
        log.info("db_accounts: %s", exc.summary)
        return [Result(check=NAME, item="connection", status=Status.CRITICAL,
                       summary=say("results.engine_error", engine=params.engine, error=exc.summary))]
    q = _odbc.Query(conn, password)
    try:
        if params.engine == "sqlserver":
            return judge_sqlserver(q(SQLSERVER_LOGINS, what="sys.sql_logins"), params)
        if params.engine == "postgresql":
            return _postgresql(params, q)
        return _mysql(params, q)
    except _odbc.DbError as exc:
        return [Result(check=NAME, item="catalog", status=Status.UNKNOWN, summary=exc.summary)]
    finally:
        _odbc.close_quietly(conn)
