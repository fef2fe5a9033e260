"""ODBC plumbing for database checks: password handling, connecting, reading rows.

The password never travels in the configured connection string: it is read
from a file or an environment variable and appended as ``PWD={...}`` only at
connect time.  Every driver message that leaves this module goes through
:func:`sanitise`, because drivers may echo the connection string.

Errors (all subclasses of :class:`DbError`, each with a readable ``summary``)::

    DbError
    ├── ConfigError      password file unreadable, env var unset, pyodbc or driver missing,
    │                    the server's TLS certificate not trusted or no TLS version in common → UNKNOWN
    ├── LoginFailed      the server refused the credentials                             → CRITICAL
    ├── Unreachable      no answer, refused, timed out                                   → CRITICAL
    └── QueryFailed      a catalog query failed (permissions, old server version)        → CRITICAL
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from checks.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar
    T = TypeVar("T")

__all__ = [
    "ENGINE_ALIASES", "ConfigError", "DbError", "LoginFailed", "QueryFailed", "Query", "Unreachable",
    "check_connection_params", "close_quietly", "connect", "connection_string", "dsn_fields", "engine_name",
    "execute", "fetch", "open_connection", "read_password", "sanitise", "with_database",
]


#: other spellings users write for an engine
ENGINE_ALIASES = {"mariadb": "mysql", "mssql": "sqlserver", "postgres": "postgresql"}


class DbError(Exception):
    """A database could not be asked; ``summary`` is safe to show."""

    def __init__(self, summary: str):
        super().__init__(summary)
        self.summary = summary


class ConfigError(DbError):
    """The check is set up wrongly on this host (UNKNOWN, not a database fault)."""


class LoginFailed(DbError):
    """The database refused the login."""


class Unreachable(DbError):
    """The database did not answer or refused the connection."""


class QueryFailed(DbError):
    """A catalog query failed."""


def engine_name(value: str, engines: tuple[str, ...]) -> str:
    """``value`` in its canonical spelling (``MariaDB`` → ``mysql``); ValueError naming the key otherwise."""
    engine = ENGINE_ALIASES.get(value.strip().lower(), value.strip().lower())
    if engine not in engines:
        also = " or mariadb" if "mysql" in engines else ""
        raise ValueError(f"engine: expected one of {', '.join(engines)}{also} (got {value!r})")
    return engine


def check_connection_params(dsn: str, password_file: str, password_env: str, *, dsn_key: str = "dsn") -> None:
    """The connection parameters' rules, for a params dataclass's ``__post_init__``."""
    if _PWD_RE.search(dsn):
        raise ValueError(f"{dsn_key}: must not contain the password (PWD=...); use password_file or password_env")
    if password_file and password_env:
        raise ValueError("password_file: give password_file or password_env, not both")


def read_password(password_file: str, password_env: str,
                  environ: Mapping[str, str]) -> str | None:
    """The password from a file (first line) or an environment variable; None if neither is set."""
    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(say("odbc.password_unreadable", param="password_file", path=password_file,
                                  error=exc.strerror or str(exc))) from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise ConfigError(say("odbc.password_empty", param="password_file", path=password_file))
        return lines[0]
    if password_env:
        value = environ.get(password_env)
        if value is None:
            raise ConfigError(say("odbc.env_unset", param="password_env", name=password_env))
        return value
    return None


def connection_string(dsn: str, password: str | None) -> str:
    """``dsn`` with ``PWD={password}`` appended; ``}`` doubled as ODBC requires."""
    if password is None:
        return dsn
    return dsn.rstrip().rstrip(";") + ";PWD={" + password.replace("}", "}}") + "}"


_PWD_RE = re.compile(r"(?i)\b(PWD|PASSWORD)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)")


def sanitise(message: str, password: str | None) -> str:
    """A driver message with the password (and any ``PWD=...``) masked, on one line."""
    if password:
        message = message.replace(password, "***")
        message = message.replace(password.replace("}", "}}"), "***")
    message = _PWD_RE.sub(lambda m: f"{m.group(1)}=***", message)
    message = " ".join(message.split())
    return message[:400]


_LOGIN_STATES = {"28000", "28P01"}
_LOGIN_WORDS = ("password authentication failed", "access denied", "login failed", "invalid username",
                "logon denied", "ora-01017", "authentication failed")
_UNREACHABLE_STATES = {"08001", "08S01", "08004", "HYT00", "HYT01", "08S02"}


def _split_error(exc: BaseException) -> tuple[str, str]:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        return args[0], args[1]
    return "", str(exc)


#: The client does not trust the server's certificate.  ODBC Driver 18 encrypts by default
#: (Encrypt=yes), so a SQL Server with its self-signed certificate fails here although it is up.
#: Windows gives the message in its own language: the SSPI codes (SEC_E_UNTRUSTED_ROOT
#: 0x80090325, SEC_E_WRONG_PRINCIPAL 0x80090322, as signed native errors) do not change.
_CERT_WORDS = ("certificate verify failed", "self signed certificate", "self-signed certificate",
               "unable to get local issuer certificate", "issued by an authority that is not trusted",
               "target principal name is incorrect", "(-2146893019)", "(-2146893022)")
#: No TLS version in common: SQL Server 2008 R2 / 2012 without the TLS 1.2 update against an
#: OpenSSL or Windows that no longer accepts TLS 1.0 (SEC_E_ALGORITHM_MISMATCH 0x80090331).
_TLS_VERSION_WORDS = ("unsupported protocol", "wrong version number", "no protocols available",
                      "do not possess a common algorithm", "(-2146893007)")


def classify_connect_error(exc: BaseException, password: str | None) -> DbError:
    """Turn a driver's connect error into one of our errors with a sanitised summary."""
    state, message = _split_error(exc)
    text = sanitise(message, password)
    lowered = text.lower()
    # the driver's own message (``text``) is an argument: the database's words
    if any(w in lowered for w in _CERT_WORDS):
        return ConfigError(say("odbc.mssql_cert" if "sql server" in lowered else "odbc.cert", text=text,
                               setting="TrustServerCertificate=yes"))
    if any(w in lowered for w in _TLS_VERSION_WORDS):
        return ConfigError(say("odbc.tls_version", text=text, openssl="MinProtocol = TLSv1, CipherString = "
                                                                      "DEFAULT@SECLEVEL=0"))
    if state in _LOGIN_STATES or any(w in lowered for w in _LOGIN_WORDS):
        return LoginFailed(say("odbc.login_failed", text=text))
    if state == "IM002" or "can't open lib" in lowered or "data source name not found" in lowered:
        return ConfigError(say("odbc.no_driver", text=text))
    if state in _UNREACHABLE_STATES or "timeout" in lowered or "refused" in lowered:
        return Unreachable(say("odbc.cannot_connect", text=text))
    return Unreachable(say("odbc.cannot_connect_state", state=state, text=text) if state else
                       say("odbc.cannot_connect_no_state", text=text))


def connect(dsn: str, password: str | None, *, login_timeout: float, query_timeout: float,
            connect: Callable[..., Any] | None = None, readonly: bool = True) -> Any:
    """An autocommit ODBC connection (read-only unless asked) with login and query timeouts."""
    if connect is None:
        try:
            import pyodbc
        except ImportError:
            raise ConfigError(say("odbc.no_pyodbc", install="pip install 'wardround[db]'")) from None
        connect = pyodbc.connect
    try:
        conn = connect(connection_string(dsn, password), timeout=max(1, int(login_timeout)),
                       autocommit=True, readonly=readonly)
    except Exception as exc:  # every driver error class; sanitised before it leaves
        raise classify_connect_error(exc, password) from None
    try:
        conn.timeout = max(1, int(query_timeout))
    except Exception:  # a driver without query timeouts still answers catalog queries
        pass
    return conn


def open_connection(dsn: str, password_file: str, password_env: str, environ: Mapping[str, str], *,
                    login_timeout: float, query_timeout: float, driver: Callable[..., Any] | None = None,
                    readonly: bool = True) -> tuple[Any, str | None]:
    """Read the password and connect: ``(connection, password)``.

    Raises :class:`ConfigError` (UNKNOWN: no dsn, password source unreadable,
    driver missing) or another :class:`DbError` (CRITICAL: refused, unreachable).
    ``driver`` is the connect seam (``pyodbc.connect`` by default).
    """
    if not dsn:
        raise ConfigError(say("odbc.no_dsn", param="dsn", example="DRIVER={...};SERVER=...;UID=..."))
    password = read_password(password_file, password_env, environ)
    conn = connect(dsn, password, login_timeout=login_timeout, query_timeout=query_timeout, connect=driver,
                   readonly=readonly)
    return conn, password


def close_quietly(conn: Any) -> None:
    """Close a connection whose state may be broken; closing must not hide the verdict."""
    try:
        conn.close()
    except Exception:
        pass


class Query:
    """``q(sql, *args, what=...)``: :func:`fetch` on one connection, the password kept for sanitising."""

    def __init__(self, conn: Any, password: str | None):
        self.conn, self.password = conn, password

    def __call__(self, sql: str, *args: Any, what: str) -> list[dict[str, Any]]:
        return fetch(self.conn, sql, args, password=self.password, what=what)


def execute(conn: Any, sql: str, params: Sequence[Any] = (), *, password: str | None = None,
            what: str = "statement") -> None:
    """Run one statement that returns no rows (DDL, RESTORE); every result set and message is drained,
    which SQL Server needs before a RESTORE counts as finished."""
    def drain(cur: Any) -> None:
        while cur.nextset():
            pass
    _on_cursor(conn, sql, params, drain, password=password, what=what)


_FIELD_RE = re.compile(r"\s*([^=;]+?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)\s*(?:;|$)")


def dsn_fields(dsn: str) -> dict[str, str]:
    """An ODBC connection string's keys (upper case) and values (braces removed)."""
    out: dict[str, str] = {}
    for m in _FIELD_RE.finditer(dsn):
        value = m.group(2).strip()
        if value.startswith("{") and value.endswith("}"):
            value = value[1:-1].replace("}}", "}")
        out[m.group(1).strip().upper()] = value
    return out


def with_database(dsn: str, database: str) -> str:
    """``dsn`` connecting to ``database`` instead (its DATABASE or DB key replaced)."""
    kept = [m.group(0).strip().rstrip(";") for m in _FIELD_RE.finditer(dsn)
            if m.group(1).strip().upper() not in ("DATABASE", "DB") and m.group(0).strip()]
    return ";".join([*kept, f"DATABASE={database}"])


def fetch(conn: Any, sql: str, params: Sequence[Any] = (), *, password: str | None = None,
          what: str = "catalog query") -> list[dict[str, Any]]:
    """Run one query; rows as dicts keyed by lower-case column name."""
    def rows(cur: Any) -> list[dict[str, Any]]:
        names = [d[0].lower() for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return _on_cursor(conn, sql, params, rows, password=password, what=what)


def _on_cursor(conn: Any, sql: str, params: Sequence[Any], then: Callable[[Any], T], *, password: str | None,
               what: str) -> T:
    """Execute ``sql`` on a new cursor and hand it to ``then``; any driver error as QueryFailed, sanitised."""
    try:
        cur = conn.cursor()
        try:
            cur.execute(sql, *params) if params else cur.execute(sql)
            return then(cur)
        finally:
            try:
                cur.close()
            except Exception:
                pass
    except Exception as exc:
        state, message = _split_error(exc)
        if state in ("HYT00", "HYT01"):
            raise QueryFailed(say("odbc.query_timed_out", what=what, text=sanitise(message, password))) from None
        raise QueryFailed(say("odbc.query_failed_state", what=what, state=state, text=sanitise(message, password))
                          if state else say("odbc.query_failed", what=what, text=sanitise(message, password))) \
            from None
