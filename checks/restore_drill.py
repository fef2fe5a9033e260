"""restore_drill: restore the newest backup on a scratch server, probe it, drop it.

A backup that was never restored is a hope.  The drill takes the newest
backup file in ``path`` matching ``pattern`` (the same file ``backup_files``
judges: the newest one no longer being written), restores it into a
throwaway database on the scratch server ``target_dsn``, runs ``probe`` there
(it must return at least one row), measures the time and the restored size,
and drops the throwaway database, whatever happened.

========== ===================================================================
engine     how the file is restored
========== ===================================================================
postgresql custom-format dumps (``PGDMP``) with ``pg_restore --no-owner
           --no-privileges --exit-on-error``; plain SQL dumps (also gzip, xz,
           bzip2) with ``psql -v ON_ERROR_STOP=1``, leaving out what ties the
           dump to the production server (``CREATE/ALTER DATABASE``,
           ``\\connect``, ``OWNER TO``, ``GRANT``/``REVOKE``)
mysql,     mysqldump / mariadb-dump files (also compressed) with the ``mysql``
mariadb    client, leaving out ``CREATE DATABASE`` and ``USE`` of the source
           database; a dump of several databases is refused
sqlserver  ``.bak`` files: ``RESTORE HEADERONLY`` (which backup, from which
           server and database), ``RESTORE VERIFYONLY`` (``WITH CHECKSUM``
           when the backup has checksums), then ``RESTORE DATABASE`` with
           every file moved to the scratch server's default data and log
           directories (``restore: false`` stops after VERIFYONLY).  The path
           is the one the scratch server sees (``server_path``, default
           ``path``)
========== ===================================================================

Safety: the throwaway database is named ``wardround_drill_<tag>_<time>_<random>``
(``<tag>`` is fixed per host, path and pattern), so a drill never writes into
an existing database; it is dropped at the end even when the restore fails
or runs out of time, and a database of this drill left by an agent that was
killed mid-drill is dropped at the start of the next one.  A target that is
the source's own server and database (from ``source_dsn``, or the dump's own
header: pg_dump's database name, mysqldump's host and database, SQL Server's
backup header) is refused.  Passwords travel in ``PGPASSWORD`` or a 0600
MySQL option file, never in arguments or output.  The probe runs on a
read-only connection and its rows are not reported (they are patient data).

The drill must finish within the check's own time limit (the ``timeout`` of
its entry in agent.yaml; default 1 h): the restore gets that limit less a
reserve for dropping the database.

======== ====================================================================
status   meaning
======== ====================================================================
OK       restored and the probe returned a row, within ``max_duration``
WARNING  restored and probed, but it took longer than ``max_duration``; or the
         restore ran past the time limit after ``max_duration`` was exceeded;
         or the throwaway database could not be dropped
CRITICAL the restore failed (a corrupt or truncated dump, an error from
         pg_restore / psql / mysql / RESTORE); the probe failed or returned no
         row; no backup file matches; the scratch server refused the login or
         did not answer
UNKNOWN  configuration: no path or target, a target that is the production
         database (refused), a dump format the engine cannot restore, client
         tools missing; the restore did not finish within the time limit;
         the newest file is still being written
======== ====================================================================

Metrics: ``duration_seconds`` (s, the whole drill; warn = ``max_duration``),
``restore_seconds`` (s), ``restored_size_bytes`` (B), ``backup_size_bytes``
(B), ``backup_age_seconds`` (s).  Details: the file, its format and source
database, the target server and throwaway database, each step's outcome and
time, whether the database was dropped.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import logging
import lzma
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from checks import _odbc
from checks._files import (
    BackupFile,
    ListingTimeout,
    list_matching,
    list_with_timeout,
    listing_problem,
    newest_settled,
)
from checks._units import format_bytes, format_seconds
from checks._verify import Verification, verify_file
from checks.backup_files import item_of
from checks.context import CheckContext
from checks.nagios import kill_group
from checks.params import Duration, format_duration
from checks.result import Metric, Result, Status, format_time

NAME = "restore_drill"
ENGINES = ("postgresql", "mysql", "sqlserver")
PREFIX = "wardround_drill_"
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "sqlserver": 1433}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreDrillParams:
    #: postgresql, mysql (or mariadb), sqlserver
    engine: str = "postgresql"
    #: the backup directory (as for backup_files)
    path: str = ""
    pattern: str = "*"
    #: ODBC connection string of the SCRATCH server without the password; its DATABASE is where the drill
    #: connects to create and drop the throwaway database (postgres, mysql, master)
    target_dsn: str = ""
    password_file: str = ""
    password_env: str = ""
    #: SQL that must return at least one row in the restored database (default: a user table exists)
    probe: str = ""
    #: a drill taking longer than this is WARNING; empty: not judged
    max_duration: Duration | None = None
    #: the production server's ODBC connection string (optional): a target on the same server and
    #: database is refused
    source_dsn: str = ""
    #: sqlserver: the backup directory as the scratch SQL Server sees it (default: path)
    server_path: str = ""
    #: sqlserver: restore the database; false stops after RESTORE VERIFYONLY
    restore: bool = True
    #: directory of pg_restore, psql or mysql (default: PATH, then /usr/lib/postgresql/*/bin)
    client_bin: str = ""
    #: a file modified more recently than this is still being written
    settle: Duration = Duration(120.0)
    #: seconds before a hung listing (dead network share) is given up
    list_timeout: Duration = Duration(15.0)
    login_timeout: Duration = Duration(10.0)
    #: seconds for each statement of the drill (create, probe, size, drop)
    query_timeout: Duration = Duration(120.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", _odbc.engine_name(self.engine, ENGINES))
        _odbc.check_connection_params(self.target_dsn, self.password_file, self.password_env,
                                      dsn_key="target_dsn")
        _odbc.check_connection_params(self.source_dsn, "", "", dsn_key="source_dsn")
        for key in ("list_timeout", "login_timeout", "query_timeout"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be more than 0")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ValueError("max_duration: must be more than 0")


# --------------------------------------------------------------------------- SQL
# ``{name}`` is the throwaway database's name: generated here from [a-z0-9_] only, never from input.

#: the default probes: a user table exists
PG_PROBE = """
SELECT 1 AS found FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
LIMIT 1
"""
MYSQL_PROBE = "SELECT 1 AS found FROM information_schema.tables WHERE table_schema = DATABASE() LIMIT 1"
SQLSERVER_PROBE = "SELECT TOP (1) 1 AS found FROM sys.tables WHERE is_ms_shipped = 0"

PG_CREATE = 'CREATE DATABASE "{name}" TEMPLATE template0'
PG_DROP = 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
PG_DROP_OLD = 'DROP DATABASE IF EXISTS "{name}"'  # PostgreSQL before 13: no FORCE
PG_SIZE = "SELECT pg_database_size(datname) AS bytes FROM pg_database WHERE datname = ?"
PG_LEFTOVERS = "SELECT datname AS name FROM pg_database WHERE datname LIKE ?"

MYSQL_CREATE = "CREATE DATABASE `{name}`"
MYSQL_DROP = "DROP DATABASE IF EXISTS `{name}`"
MYSQL_SIZE = ("SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.tables "
              "WHERE table_schema = ?")
MYSQL_LEFTOVERS = "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?"
#: a killed client's statement may still run in the server and hold the database: its threads go first
MYSQL_THREADS = "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()"
MYSQL_KILL = "KILL {id}"

#: SQL Server.  Sources: learn.microsoft.com RESTORE HEADERONLY / FILELISTONLY / VERIFYONLY / DATABASE
#: (variables allowed for the device and the MOVE names), SERVERPROPERTY('InstanceDefaultDataPath').
SQLSERVER_HEADERONLY = "RESTORE HEADERONLY FROM DISK = ?"
SQLSERVER_FILELISTONLY = "RESTORE FILELISTONLY FROM DISK = ? WITH FILE = ?"
SQLSERVER_VERIFYONLY = "RESTORE VERIFYONLY FROM DISK = ? WITH FILE = ?"
SQLSERVER_VERIFYONLY_CHECKSUM = "RESTORE VERIFYONLY FROM DISK = ? WITH FILE = ?, CHECKSUM"
SQLSERVER_SERVER = """
SELECT @@SERVERNAME AS server_name, DB_NAME() AS database_name,
       CAST(SERVERPROPERTY('InstanceDefaultDataPath') AS nvarchar(260)) AS data_path,
       CAST(SERVERPROPERTY('InstanceDefaultLogPath') AS nvarchar(260)) AS log_path
"""
SQLSERVER_RESTORE = "RESTORE DATABASE [{name}] FROM DISK = ? WITH FILE = ?, {moves}, RECOVERY"
SQLSERVER_DROP = ("IF DB_ID(N'{name}') IS NOT NULL BEGIN ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK "
                  "IMMEDIATE; DROP DATABASE [{name}]; END")
SQLSERVER_SIZE = ("SELECT SUM(CAST(size AS bigint)) * 8192 AS bytes FROM sys.master_files "
                  "WHERE database_id = DB_ID(?)")
SQLSERVER_LEFTOVERS = "SELECT name FROM sys.databases WHERE name LIKE ?"

SQL_DIALECTS = {  # for the test that parses every statement (with {name} filled in)
    "PG_PROBE": "postgres", "MYSQL_PROBE": "mysql", "SQLSERVER_PROBE": "tsql",
    "PG_CREATE": "postgres", "PG_DROP_OLD": "postgres", "PG_SIZE": "postgres", "PG_LEFTOVERS": "postgres",
    "MYSQL_CREATE": "mysql", "MYSQL_DROP": "mysql", "MYSQL_SIZE": "mysql", "MYSQL_LEFTOVERS": "mysql",
    "MYSQL_THREADS": "mysql", "MYSQL_KILL": "mysql",
    "SQLSERVER_SERVER": "tsql", "SQLSERVER_SIZE": "tsql", "SQLSERVER_LEFTOVERS": "tsql",
}
DEFAULT_PROBES = {"postgresql": PG_PROBE, "mysql": MYSQL_PROBE, "sqlserver": SQLSERVER_PROBE}


# --------------------------------------------------------------------------- what the file is

class DrillError(Exception):
    """The drill cannot go on; ``status`` and ``summary`` say how it ends."""

    def __init__(self, status: Status, summary: str):
        super().__init__(summary)
        self.status, self.summary = status, summary


@dataclass
class Dump:
    format: str                      # "pg_custom", "pg_plain", "mysql", "mssql"
    compression: str = ""            # "", "gzip", "xz", "bzip2"
    database: str = ""               # the source database, where the file says
    host: str = ""                   # the source server, where the file says (mysqldump)


_OPENERS: dict[str, Callable[[str], Any]] = {
    "gzip": lambda p: gzip.open(p, "rb"), "bzip2": lambda p: bz2.open(p, "rb"), "xz": lambda p: lzma.open(p, "rb"),
}


def _compression(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return ""


def open_dump(path: str, compression: str) -> IO[bytes]:
    """The dump's bytes, decompressed on the fly."""
    if not compression:
        return open(path, "rb")
    stream: IO[bytes] = _OPENERS[compression](path)
    return stream


_MYSQL_HOST = re.compile(rb"^-- Host: (\S*)\s+Database: (\S*)", re.M)
_PG_CREATE_DB = re.compile(rb"^CREATE DATABASE \"?([^\s\"]+)\"?", re.M)


def identify(path: str) -> Dump:
    """The dump's format and what its header says about the source."""
    with open(path, "rb") as fh:
        raw_head = fh.read(16)
    compression = _compression(raw_head)
    try:
        with open_dump(path, compression) as fh:
            head = fh.read(64 * 1024)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DrillError(Status.CRITICAL, f"cannot read {os.path.basename(path)}: corrupt {compression or 'file'} "
                                          f"({exc})") from None
    if head.startswith(b"PGDMP"):
        return Dump("pg_custom", compression)
    if head.startswith(b"TAPE"):
        return Dump("mssql", compression)
    if b"-- PostgreSQL database cluster dump" in head[:200]:
        raise DrillError(Status.UNKNOWN, f"{os.path.basename(path)} is a pg_dumpall of the whole cluster: "
                                         "a drill restores one database (pg_dump)")
    if head.startswith(b"--\n-- PostgreSQL database dump") or b"-- PostgreSQL database dump" in head[:200]:
        m = _PG_CREATE_DB.search(head)
        return Dump("pg_plain", compression, database=m.group(1).decode("utf-8", "replace") if m else "")
    if head.startswith((b"-- MySQL dump", b"-- MariaDB dump", b"/*M!999999")):
        m = _MYSQL_HOST.search(head)
        return Dump("mysql", compression, database=m.group(2).decode("utf-8", "replace") if m else "",
                    host=m.group(1).decode("utf-8", "replace") if m else "")
    raise DrillError(Status.UNKNOWN, f"{os.path.basename(path)}: not a format the drill can restore "
                                     "(pg_dump custom or plain, mysqldump, SQL Server .bak)")


_ENGINE_OF_FORMAT = {"pg_custom": "postgresql", "pg_plain": "postgresql", "mysql": "mysql", "mssql": "sqlserver"}


# --------------------------------------------------------------------------- which server is which

_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "(local)", ".", "(localdb)"}


def server_of(dsn: str, engine: str) -> tuple[str, int] | None:
    """``(host, port)`` of a connection string, local names made one; None when it names no server."""
    f = _odbc.dsn_fields(dsn)
    host = f.get("SERVER") or f.get("HOST") or f.get("SERVERNAME") or ""
    if not host:
        return None
    return normal_server(host, f.get("PORT", ""), engine)


def normal_server(host: str, port: str | int, engine: str) -> tuple[str, int]:
    host = host.strip().lower()
    for prefix in ("tcp:", "np:", "lpc:"):
        host = host.removeprefix(prefix)
    if "," in host:  # SQL Server: host,port
        host, _, port = host.partition(",")
    instance = ""
    if "\\" in host:
        host, _, instance = host.partition("\\")
    if host in _LOCAL_NAMES or host in (socket.gethostname().lower(), socket.getfqdn().lower()):
        host = "localhost"
    try:
        number = int(str(port).strip()) if str(port).strip() else DEFAULT_PORTS[engine]
    except ValueError:
        number = DEFAULT_PORTS[engine]
    return (f"{host}\\{instance}" if instance else host, number)


def _database_of(dsn: str) -> str:
    f = _odbc.dsn_fields(dsn)
    return (f.get("DATABASE") or f.get("DB") or "").strip()


def refuse_production(params: RestoreDrillParams, dump: Dump, target_server: str = "") -> None:
    """DrillError (UNKNOWN) when the target is the source's own server and database."""
    target = server_of(params.target_dsn, params.engine)
    target_db = _database_of(params.target_dsn).lower()
    source = server_of(params.source_dsn, params.engine) if params.source_dsn else None
    source_dbs = {d.lower() for d in (_database_of(params.source_dsn), dump.database) if d}
    if target_server and dump.host:  # SQL Server: @@SERVERNAME against the backup's ServerName
        same_server = target_server.lower() == dump.host.lower()
    elif source is None and dump.host and target is not None:  # mysqldump's header names the host, not the port
        same_server = normal_server(dump.host, "", params.engine)[0] == target[0]
    else:
        same_server = source is None or target is None or source == target
    if target_db and target_db in source_dbs and same_server:
        where = f"{target[0]}:{target[1]}" if target else (target_server or "the target server")
        raise DrillError(Status.UNKNOWN, f"refused: target_dsn is the production database {target_db} on {where} "
                                         "(the drill needs a scratch server, or at least its maintenance "
                                         "database: postgres, mysql, master)")


# --------------------------------------------------------------------------- running the client tools

def find_tool(names: tuple[str, ...], client_bin: str, which: Callable[[str], str | None]) -> str:
    for name in names:
        if client_bin:
            candidate = os.path.join(client_bin, name)
            if os.access(candidate, os.X_OK):
                return candidate
            continue
        found = which(name)
        if found:
            return found
        for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
            return candidate
    where = client_bin or "PATH"
    raise DrillError(Status.UNKNOWN, f"{' or '.join(names)} not found in {where} (install the client tools or "
                                     f"set client_bin)")


@dataclass
class Finished:
    returncode: int | None   # None: stopped at the time limit
    stderr: str
    stopped: str = ""        # why the input was stopped early ("several databases ...")
    stopped_status: Status = Status.CRITICAL


def run_tool(argv: list[str], env: Mapping[str, str], deadline: float,
             feed: Iterator[bytes] | None = None) -> Finished:
    """Run ``argv`` in its own process group; ``feed`` streamed to its stdin; killed at ``deadline``."""
    with tempfile.TemporaryFile() as err:
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            kwargs["start_new_session"] = True
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, env=dict(env), **kwargs)
        stopped: list[tuple[Status, str]] = []

        def write() -> None:
            assert proc.stdin is not None and feed is not None
            try:
                for chunk in feed:
                    if time.monotonic() > deadline:
                        break
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # the tool stopped on an error: its exit code and stderr say which
            except DrillError as exc:
                stopped.append((exc.status, exc.summary))
                kill_group(proc)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                stopped.append((Status.CRITICAL, f"the file could not be read to the end: {exc}"))
                kill_group(proc)
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        writer = threading.Thread(target=write, name="restore-feed", daemon=True) if feed is not None else None
        if writer:
            writer.start()
        try:
            code: int | None = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.wait(timeout=10)
            code = None
        if writer:
            writer.join(timeout=10)
        err.seek(0)
        text = err.read()[-8192:].decode("utf-8", "replace")
    if stopped:
        return Finished(code or 1, text, stopped[0][1], stopped[0][0])
    return Finished(code, text)


_PG_SKIP = re.compile(rb"^(CREATE DATABASE |ALTER DATABASE |\\connect |\\c |ALTER [^;]* OWNER TO |GRANT |REVOKE )")
_MY_USE = re.compile(rb"^USE `((?:[^`]|``)+)`;")
_MY_CREATE_DB = re.compile(rb"^CREATE DATABASE (?:/\*!\d+ IF NOT EXISTS\*/ )?`((?:[^`]|``)+)`")


def pg_plain_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """A plain pg_dump without what would tie it to the source database (its own CREATE DATABASE,
    ``\\connect``, owners and grants: pg_restore's --no-owner --no-privileges for SQL text)."""
    copying = False
    with stream:
        for line in stream:
            if copying:  # COPY data: never a statement, never filtered
                copying = line != b"\\.\n"
                yield line
                continue
            if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                copying = True
            elif _PG_SKIP.match(line):
                continue
            yield line


def mysql_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """A mysqldump without its ``CREATE DATABASE`` / ``USE`` of the source; several databases stop it."""
    seen: set[bytes] = set()
    with stream:
        for line in stream:
            m = _MY_USE.match(line) or _MY_CREATE_DB.match(line)
            if m:
                seen.add(m.group(1))
                if len(seen) > 1:
                    raise DrillError(Status.UNKNOWN, "the dump holds several databases ("
                                     + ", ".join(sorted(s.decode("utf-8", "replace") for s in seen))
                                     + "): a drill restores one")
                continue
            yield line


# --------------------------------------------------------------------------- the drill

@dataclass
class Drill:
    params: RestoreDrillParams
    ctx: CheckContext
    environ: Mapping[str, str]
    connect: Callable[..., Any] | None
    which: Callable[[str], str | None]
    deadline: float
    began: float
    name: str = ""
    password: str | None = None
    steps: dict[str, Any] = field(default_factory=dict)

    def timed(self, step: str, began: float, outcome: str = "ok") -> None:
        self.steps[step] = {"outcome": outcome, "seconds": round(time.monotonic() - began, 3)}

    def admin(self) -> Any:
        conn, self.password = _odbc.open_connection(
            self.params.target_dsn, self.params.password_file, self.params.password_env, self.environ,
            login_timeout=self.params.login_timeout, query_timeout=self.params.query_timeout,
            driver=self.connect, readonly=False)
        return conn

    def execute(self, conn: Any, sql: str, *args: Any, what: str) -> None:
        _odbc.execute(conn, sql, args, password=self.password, what=what)

    def fetch(self, conn: Any, sql: str, *args: Any, what: str) -> list[dict[str, Any]]:
        return _odbc.fetch(conn, sql, args, password=self.password, what=what)


def throwaway_name(tag_source: str, now: datetime) -> str:
    tag = hashlib.sha256(tag_source.encode("utf-8")).hexdigest()[:8]
    return f"{PREFIX}{tag}_{now.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"


_SQL = {
    "postgresql": {"create": PG_CREATE, "drop": PG_DROP, "size": PG_SIZE, "leftovers": PG_LEFTOVERS},
    "mysql": {"create": MYSQL_CREATE, "drop": MYSQL_DROP, "size": MYSQL_SIZE, "leftovers": MYSQL_LEFTOVERS},
    "sqlserver": {"create": "", "drop": SQLSERVER_DROP, "size": SQLSERVER_SIZE, "leftovers": SQLSERVER_LEFTOVERS},
}


def drop(d: Drill, conn: Any, name: str) -> None:
    if d.params.engine == "mysql":
        try:
            for row in d.fetch(conn, MYSQL_THREADS, name, what="threads of the throwaway database"):
                d.execute(conn, MYSQL_KILL.format(id=int(row["id"])), what="KILL")
        except _odbc.QueryFailed:
            pass  # a thread that ended meanwhile; DROP says whether anything still holds the database
    sql = _SQL[d.params.engine]["drop"].format(name=name)
    try:
        d.execute(conn, sql, what=f"DROP DATABASE {name}")
    except _odbc.QueryFailed:
        if d.params.engine != "postgresql":
            raise
        d.execute(conn, PG_DROP_OLD.format(name=name), what=f"DROP DATABASE {name}")


def drop_leftovers(d: Drill, conn: Any, tag_prefix: str) -> list[str]:
    """Throwaway databases of this drill that an interrupted run left behind: dropped now."""
    rows = d.fetch(conn, _SQL[d.params.engine]["leftovers"], tag_prefix + "%", what="leftover databases")
    names = [str(r["name"]) for r in rows if str(r["name"]).startswith(tag_prefix)]
    for name in names:
        drop(d, conn, name)
    return names


_PG_LIST_DBNAME = re.compile(r"^;\s+dbname: (.+)$", re.M)


def _pg_archive_database(d: Drill, f: BackupFile) -> str:
    """The source database's name from a custom archive's table of contents (``pg_restore --list``);
    a table of contents that cannot be read is a corrupt archive."""
    tool = find_tool(("pg_restore",), d.params.client_bin, d.which)
    step = time.monotonic()
    try:
        proc = subprocess.run([tool, "--list", f.path], capture_output=True, timeout=max(1.0, min(
            120.0, d.deadline - time.monotonic())), stdin=subprocess.DEVNULL, env={**d.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        d.timed("list", step, "time limit")
        return ""
    if proc.returncode != 0:
        d.timed("list", step, "failed")
        err = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        raise DrillError(Status.CRITICAL, f"restore of {f.name} failed: pg_restore cannot read its table of "
                                          f"contents: {(err[-1] if err else 'no message')[:300]}")
    d.timed("list", step)
    m = _PG_LIST_DBNAME.search(proc.stdout.decode("utf-8", "replace"))
    return m.group(1).strip() if m else ""


def _restore_pg(d: Drill, f: BackupFile, dump: Dump, env: dict[str, str]) -> Finished:
    target = _odbc.dsn_fields(d.params.target_dsn)
    conn_args = ["--host", target.get("SERVER") or target.get("HOST") or "localhost",
                 "--port", target.get("PORT") or "5432", "--username", target.get("UID") or target.get("USERNAME")
                 or "postgres", "--no-password"]
    if dump.format == "pg_custom":
        tool = find_tool(("pg_restore",), d.params.client_bin, d.which)
        argv = [tool, "--no-owner", "--no-privileges", "--exit-on-error", *conn_args, "--dbname", d.name]
        if not dump.compression:
            return run_tool([*argv, f.path], env, d.deadline)
        return run_tool(argv, env, d.deadline, _chunks(open_dump(f.path, dump.compression)))
    tool = find_tool(("psql",), d.params.client_bin, d.which)
    argv = [tool, "-X", "-q", "-v", "ON_ERROR_STOP=1", *conn_args, "--dbname", d.name, "-f", "-"]
    return run_tool(argv, env, d.deadline, pg_plain_lines(open_dump(f.path, dump.compression)))


def _restore_mysql(d: Drill, f: BackupFile, dump: Dump, env: dict[str, str], workdir: str) -> Finished:
    target = _odbc.dsn_fields(d.params.target_dsn)
    tool = find_tool(("mariadb", "mysql"), d.params.client_bin, d.which)
    options = os.path.join(workdir, "client.cnf")
    fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("[client]\n")
        if d.password is not None:
            escaped = d.password.replace("\\", "\\\\").replace('"', '\\"')
            fh.write(f'password="{escaped}"\n')
    argv = [tool, f"--defaults-extra-file={options}", "--batch", "--host",
            target.get("SERVER") or target.get("HOST") or "localhost", "--port", target.get("PORT") or "3306",
            "--user", target.get("UID") or target.get("USER") or "root", "--database", d.name]
    return run_tool(argv, env, d.deadline, mysql_lines(open_dump(f.path, dump.compression)))


def _chunks(stream: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    with stream:
        while True:
            chunk = stream.read(size)
            if not chunk:
                return
            yield chunk


def _tool_failure(done: Finished, password: str | None, tool: str) -> str:
    """The tool's first error line (else its last line), with any password masked."""
    if done.stopped:
        return done.stopped
    lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    text = (errors or lines or ["no message"])[0 if errors else -1]
    return f"{tool} failed (exit {done.returncode}): {_odbc.sanitise(text, password)[:400]}"


def _restore_files(d: Drill, f: BackupFile, dump: Dump) -> tuple[str, Finished]:
    """Run the engine's client tool; (tool name, how it ended)."""
    env = {**d.environ, "LC_ALL": "C", "LANG": "C", "PGAPPNAME": "wardround-restore-drill",
           "PGCONNECT_TIMEOUT": str(int(d.params.login_timeout))}
    env.pop("PGPASSWORD", None)
    env.pop("MYSQL_PWD", None)
    if d.password is not None and d.params.engine == "postgresql":
        env["PGPASSWORD"] = d.password
    with tempfile.TemporaryDirectory(prefix="wardround-drill-") as workdir:
        if d.params.engine == "postgresql":
            tool = "pg_restore" if dump.format == "pg_custom" else "psql"
            return tool, _restore_pg(d, f, dump, env)
        return "mysql", _restore_mysql(d, f, dump, env, workdir)


def _restore_sqlserver(d: Drill, conn: Any, f: BackupFile, header: dict[str, Any], server: dict[str, Any]) -> None:
    device = _server_file(d.params, f)
    position = int(header.get("position") or 1)
    files = d.fetch(conn, SQLSERVER_FILELISTONLY, device, position, what="RESTORE FILELISTONLY")
    moves: list[str] = []
    args: list[Any] = [device, position]
    data_dir = str(server.get("data_path") or "")
    log_dir = str(server.get("log_path") or data_dir)
    for i, row in enumerate(files):
        kind = str(row.get("type") or "D").upper()
        folder = log_dir if kind == "L" else data_dir
        ext = ".ldf" if kind == "L" else (".ndf" if i else ".mdf")
        sep = "\\" if "\\" in folder or not folder.startswith("/") else "/"
        moves.append("MOVE ? TO ?")
        args += [row.get("logicalname"), f"{folder.rstrip('/').rstrip(chr(92))}{sep}{d.name}_{i}{ext}"]
    sql = SQLSERVER_RESTORE.format(name=d.name, moves=", ".join(moves))
    try:
        conn.timeout = max(1, int(d.deadline - time.monotonic()))
    except Exception:
        pass
    d.execute(conn, sql, *args, what="RESTORE DATABASE")


def _server_file(params: RestoreDrillParams, f: BackupFile) -> str:
    if not params.server_path:
        return f.path
    sep = "\\" if "\\" in params.server_path else "/"
    return params.server_path.rstrip("\\/") + sep + f.relative.replace("/", sep)


def run(params: RestoreDrillParams, ctx: CheckContext, *,
        list_files: Callable[[str, str], list[BackupFile]] = list_matching,
        verify: Callable[[str, float], Verification] = lambda p, b: verify_file(p, budget_s=b),
        connect: Callable[..., Any] | None = None,
        environ: Mapping[str, str] = os.environ,
        which: Callable[[str], str | None] = shutil.which) -> list[Result]:
    began = time.monotonic()
    reserve = min(120.0, max(10.0, 0.1 * ctx.timeout_s))
    deadline = began + max(1.0, ctx.timeout_s - reserve)
    item = item_of(params.path, params.pattern)
    standard = "the newest backup restores and answers the probe" + (
        f" within {format_duration(params.max_duration)}" if params.max_duration else "")
    details: dict[str, Any] = {"engine": params.engine, "path": params.path, "pattern": params.pattern}
    metrics: list[Metric] = []

    def result(status: Status, summary: str) -> list[Result]:
        return [Result(check=NAME, item=item[:255], status=status, summary=summary[:1000], standard=standard,
                       metrics=tuple(metrics), details=details)]

    if not params.path:
        return result(Status.UNKNOWN, "path: not configured (the backup directory)")
    if not params.target_dsn:
        return result(Status.UNKNOWN, "target_dsn: not configured (the scratch server to restore on)")
    try:
        files = list_with_timeout(list_files, params.path, params.pattern, params.list_timeout)
    except (ListingTimeout, OSError) as exc:
        return result(*listing_problem(exc, params.path, params.list_timeout))
    newest = newest_settled(files, ctx.now.timestamp(), params.settle)
    if newest is None:
        return result(Status.CRITICAL, f"no file matches {params.pattern} in {params.path}: nothing to restore")
    if newest.in_progress:
        return result(Status.UNKNOWN, f"{newest.judged.name} is still being written: the drill waits for it")
    f = newest.judged
    age = max(0.0, ctx.now.timestamp() - f.mtime)
    details.update(file=f.path, file_size_bytes=f.size, file_modified=format_time(f.modified))
    metrics += [Metric("backup_size_bytes", float(f.size), "B", min=0),
                Metric("backup_age_seconds", round(age), "s", min=0)]
    d = Drill(params, ctx, environ, connect, which, deadline, began)
    tag_source = f"{socket.gethostname()}|{params.engine}|{params.path}|{params.pattern}"
    d.name = throwaway_name(tag_source, ctx.now)
    tag_prefix = d.name.rsplit("_", 2)[0] + "_"
    try:
        status, summary = _drill(d, f, details, metrics, tag_prefix, verify)
    except DrillError as exc:
        status, summary = exc.status, exc.summary
    details["steps"] = d.steps
    took = time.monotonic() - began
    metrics.insert(0, Metric("duration_seconds", round(took, 3), "s", warn=params.max_duration, min=0))
    return result(status, summary)


def _drill(d: Drill, f: BackupFile, details: dict[str, Any], metrics: list[Metric], tag_prefix: str,
           verify: Callable[[str, float], Verification]) -> tuple[Status, str]:
    params = d.params
    began = time.monotonic()
    if params.engine == "sqlserver":
        dump = Dump("mssql")
    else:
        try:
            dump = identify(f.path)
        except OSError as exc:
            raise DrillError(Status.CRITICAL, f"cannot read {f.name}: {exc.strerror or exc}") from None
        if _ENGINE_OF_FORMAT[dump.format] != params.engine:
            raise DrillError(Status.UNKNOWN, f"{f.name} is a {dump.format} file, not a {params.engine} backup "
                                             f"(engine: {params.engine})")
        if dump.format == "pg_custom" and not dump.compression:
            dump.database = _pg_archive_database(d, f)
        details.update(format=dump.format, compression=dump.compression or None,
                       source_database=dump.database or None, source_host=dump.host or None)
        refuse_production(params, dump)
        if dump.format != "pg_custom":  # pg_restore reads custom archives whole; SQL text needs its end
            check = verify(f.path, max(1.0, d.deadline - time.monotonic()))
            d.timed("verify", began, "ok" if check.ok is not False else "failed")
            if check.ok is False:
                raise DrillError(Status.CRITICAL, f"{f.name}: {check.text}; not restorable")
    try:
        conn = d.admin()
    except _odbc.ConfigError as exc:
        raise DrillError(Status.UNKNOWN, exc.summary) from None
    except _odbc.DbError as exc:
        raise DrillError(Status.CRITICAL, f"scratch server: {exc.summary}") from None
    target = server_of(params.target_dsn, params.engine)
    details.update(target=f"{target[0]}:{target[1]}" if target else None, throwaway_database=d.name)
    try:
        return _drill_on(d, conn, f, dump, details, metrics, tag_prefix)
    finally:
        _odbc.close_quietly(conn)


def _drill_on(d: Drill, conn: Any, f: BackupFile, dump: Dump, details: dict[str, Any], metrics: list[Metric],
              tag_prefix: str) -> tuple[Status, str]:
    params = d.params
    try:
        leftovers = drop_leftovers(d, conn, tag_prefix)
    except _odbc.QueryFailed as exc:
        raise DrillError(Status.UNKNOWN, f"scratch server: {exc.summary}") from None
    if leftovers:
        details["leftovers_dropped"] = leftovers
    header: dict[str, Any] = {}
    server: dict[str, Any] = {}
    if params.engine == "sqlserver":
        header, server = _sqlserver_prepare(d, conn, f, details)
        dump.database, dump.host = str(header.get("databasename") or ""), str(header.get("servername") or "")
        refuse_production(params, dump, target_server=str(server.get("server_name") or ""))
        if not params.restore:
            return Status.OK, (f"{f.name}: RESTORE VERIFYONLY passed ({header.get('databasename')}, backup of "
                               f"{header.get('backupfinishdate')}); not restored (restore: false)")
    created = False
    began = time.monotonic()
    outcome: tuple[Status, str] | None = None
    try:
        if params.engine != "sqlserver":
            d.execute(conn, _SQL[params.engine]["create"].format(name=d.name), what="CREATE DATABASE")
            created = True
            d.timed("create", began)
            step = time.monotonic()
            tool, done = _restore_files(d, f, dump)
            if done.returncode is None:
                d.timed("restore", step, "time limit")
                outcome = _late(d, f, tool)
            elif done.stopped and done.stopped_status is not Status.CRITICAL:
                d.timed("restore", step, "stopped")
                outcome = (done.stopped_status, f"{f.name}: {done.stopped}")
            elif done.returncode != 0:
                d.timed("restore", step, "failed")
                outcome = (Status.CRITICAL, f"restore of {f.name} failed: {_tool_failure(done, d.password, tool)}")
            else:
                d.timed("restore", step)
        else:
            step = time.monotonic()
            created = True
            try:
                _restore_sqlserver(d, conn, f, header, server)
                d.timed("restore", step)
            except _odbc.QueryFailed as exc:
                d.timed("restore", step, "failed")
                late = time.monotonic() >= d.deadline
                outcome = _late(d, f, "RESTORE DATABASE") if late else (
                    Status.CRITICAL, f"restore of {f.name} failed: {exc.summary}")
        if outcome is None:
            metrics.append(Metric("restore_seconds", d.steps["restore"]["seconds"], "s", min=0))
            outcome = _probe_and_size(d, conn, f, details, metrics)
    except _odbc.QueryFailed as exc:
        outcome = (Status.CRITICAL, f"scratch server: {exc.summary}")
    finally:
        if created:
            step = time.monotonic()
            try:
                drop(d, conn, d.name)
                d.timed("drop", step)
                details["dropped"] = True
            except _odbc.QueryFailed as exc:
                d.timed("drop", step, "failed")
                details["dropped"] = False
                log.warning("restore_drill: could not drop %s", d.name)
                note = f"; the throwaway database {d.name} could not be dropped ({exc.summary[:200]}): " \
                       f"the next drill drops it"
                if outcome is None or outcome[0] is Status.OK:
                    outcome = (Status.WARNING, (outcome[1] if outcome else "drill stopped") + note)
                else:
                    outcome = (outcome[0], outcome[1] + note)
    assert outcome is not None
    return outcome


def _late(d: Drill, f: BackupFile, tool: str) -> tuple[Status, str]:
    limit = d.deadline - d.began
    text = (f"restore of {f.name} did not finish within the drill's time limit ({limit:.0f} s of the check's "
            f"{d.ctx.timeout_s:g} s; {tool} stopped, the throwaway database dropped): raise the entry's timeout")
    if d.params.max_duration is not None:
        return Status.WARNING, text + f"; already longer than max_duration {format_duration(d.params.max_duration)}"
    return Status.UNKNOWN, text


def _probe_and_size(d: Drill, conn: Any, f: BackupFile, details: dict[str, Any],
                    metrics: list[Metric]) -> tuple[Status, str]:
    params = d.params
    probe = params.probe.strip() or DEFAULT_PROBES[params.engine]
    details["probe"] = {"sql": " ".join(probe.split())[:500], "default": not params.probe.strip()}
    step = time.monotonic()
    try:
        pconn, _ = _odbc.open_connection(_odbc.with_database(params.target_dsn, d.name), params.password_file,
                                         params.password_env, d.environ, login_timeout=params.login_timeout,
                                         query_timeout=params.query_timeout, driver=d.connect, readonly=True)
    except _odbc.DbError as exc:
        d.timed("probe", step, "failed")
        return Status.CRITICAL, f"restored {f.name}, but the restored database does not accept a connection: " \
                                f"{exc.summary}"
    try:
        rows = _odbc.fetch(pconn, probe, (), password=d.password, what="probe")
    except _odbc.QueryFailed as exc:
        d.timed("probe", step, "failed")
        details["probe"]["outcome"] = "failed"
        return Status.CRITICAL, f"restored {f.name}, but the probe failed: {exc.summary}"
    finally:
        _odbc.close_quietly(pconn)
    details["probe"]["outcome"] = "row" if rows else "no row"
    d.timed("probe", step, "row" if rows else "no row")
    if not rows:
        return Status.CRITICAL, f"restored {f.name}, but the probe returned no row"
    size: float | None = None
    try:
        [row] = d.fetch(conn, _SQL[params.engine]["size"], d.name, what="database size")
        size = float(row["bytes"]) if row.get("bytes") is not None else None
    except (_odbc.QueryFailed, ValueError, TypeError):
        size = None
    metrics.append(Metric("restored_size_bytes", size, "B", min=0))
    details["restored_size_bytes"] = None if size is None else int(size)
    took = time.monotonic() - d.began
    sized = f", {format_bytes(size)}" if size is not None else ""
    summary = (f"{f.name} ({format_bytes(f.size)}, {format_seconds(max(0.0, d.ctx.now.timestamp() - f.mtime))} old) "
               f"restored into {d.name} and probed in {took:.1f} s{sized}; dropped")
    if params.max_duration is not None and took > params.max_duration:
        return Status.WARNING, f"drill took {took:.1f} s, longer than max_duration " \
                               f"{format_duration(params.max_duration)}: {summary}"
    return Status.OK, summary


def _sqlserver_prepare(d: Drill, conn: Any, f: BackupFile,
                       details: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    device = _server_file(d.params, f)
    step = time.monotonic()
    try:
        [server] = d.fetch(conn, SQLSERVER_SERVER, what="server properties")
        headers = d.fetch(conn, SQLSERVER_HEADERONLY, device, what="RESTORE HEADERONLY")
    except _odbc.QueryFailed as exc:
        d.timed("headeronly", step, "failed")
        raise DrillError(Status.CRITICAL, f"{f.name}: {exc.summary}") from None
    fulls = [h for h in headers if int(h.get("backuptype") or 0) == 1]
    if not fulls:
        d.timed("headeronly", step, "no full backup")
        raise DrillError(Status.CRITICAL, f"{f.name} holds no full database backup (RESTORE HEADERONLY: "
                                          f"{len(headers)} backup set(s))")
    header = max(fulls, key=lambda h: int(h.get("position") or 0))
    d.timed("headeronly", step)
    details.update(format="mssql", source_database=header.get("databasename"), source_host=header.get("servername"),
                   backup_finished=str(header.get("backupfinishdate")), backup_position=header.get("position"),
                   target_server=server.get("server_name"))
    step = time.monotonic()
    checksum = bool(header.get("hasbackupchecksums"))
    try:
        d.execute(conn, SQLSERVER_VERIFYONLY_CHECKSUM if checksum else SQLSERVER_VERIFYONLY, device,
                  int(header.get("position") or 1), what="RESTORE VERIFYONLY")
    except _odbc.QueryFailed as exc:
        d.timed("verifyonly", step, "failed")
        raise DrillError(Status.CRITICAL, f"{f.name}: {exc.summary}") from None
    d.timed("verifyonly", step, "ok (with checksums)" if checksum else "ok")
    return header, server
