"""db_backup: is every database backed up as the service contract expects?

Reads each engine's own backup catalog over ODBC (catalog and metadata views
only, never business tables) and judges every backup against a maximum age,
its size against the recent median, and job outcomes.  The password is read
from ``password_file`` or ``password_env`` and added to the connection string
only at connect time; it never appears in a result or a log.

Items, one result each:

============== =========================================================================
engine         items
============== =========================================================================
sqlserver      ``<db>/full``, ``<db>/diff`` (when the database has differentials or
               ``full_max_age`` > ``diff_max_age``), ``<db>/log`` (FULL / BULK_LOGGED
               recovery only, never ``model``); with ``jobs: true`` also
               ``job/<SQL Agent job>``; SQL Server 2008 R2 and later
oracle         ``rman/<input type>`` (``rman/DB FULL``, ``rman/DB INCR``, ``rman/ARCHIVELOG``...),
               ``rman/level 0`` (incremental strategies), ``archive`` (log mode and
               archive destinations)
postgresql     ``archive`` (WAL archiving), ``pgbackrest/<stanza>`` when configured
mysql/mariadb  ``meb/full``, ``meb/incremental`` from MySQL Enterprise Backup's history
all            ``connection`` / ``catalog`` when the database cannot be asked
============== =========================================================================

======== =====================================================================
status   meaning
======== =====================================================================
OK       the newest backup is within its maximum age (the summary says when it
         finished, its size and where it went); a new database not yet due;
         an Availability Group database on a replica that is not the
         preferred backup replica (judged there instead); the mirror database
         of a database mirroring session
WARNING  too small (below ``min_size_ratio`` × the median of earlier backups of
         the same type); unverified (``require_checksum`` and no CHECKSUM);
         an RMAN job COMPLETED or RUNNING WITH WARNINGS; an Agent job failed
         since the last run but has succeeded since; no WAL archived yet; a
         database OFFLINE, RESTORING or RECOVERING; an AG database on a host
         whose @@SERVERNAME differs from its name (the preferred replica
         cannot be known); an Oracle archive destination DEFERRED
CRITICAL missed (a scheduled backup is older than its maximum age; a weekly
         RMAN level 0 behind daily level 1s), stale (log backups or WAL
         archive older than theirs, with WAL waiting), failed (RMAN FAILED /
         COMPLETED or RUNNING WITH ERRORS, archiver failing, pgBackRest
         status, MEB FAILURE, Agent job failed), never backed up, WAL
         archiving off or NOARCHIVELOG, an archive destination in ERROR; a
         database SUSPECT, RECOVERY_PENDING or EMERGENCY; the database is
         unreachable or refused the login
UNKNOWN  not judgeable here: no dsn or password source, pyodbc or the driver
         missing, the server's TLS certificate not trusted or no TLS version
         in common (the summary says how to fix the dsn), a catalog query not
         permitted or timed out, no backup catalog (MySQL without MEB: use
         ``backup_files`` on the dump folder)
======== =====================================================================

Metrics: ``age_seconds`` (s; crit = the maximum age; no value when never
backed up), ``size_bytes`` (B) where the catalog knows it; ``archive``
adds ``failed_count`` and ``pending_wal_files`` (count); jobs add
``duration_seconds`` (s).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping

from checks import _logs, _odbc
from checks._params.db_backup import ENGINE_ALIASES, ENGINES, NAME, OVERRIDE_KEYS, DbBackupParams, Query
from checks.context import CheckContext
from checks.db_backup import mysql, oracle, postgresql, sqlserver
from checks.db_backup.judge import Rule, Seen, judge_backup, problem
from checks.db_backup.mysql import MYSQL_HAS_HISTORY, MYSQL_HISTORY, judge_mysql
from checks.db_backup.oracle import (
    ORACLE_ARCHIVE_DESTS,
    ORACLE_BACKUP_SETS,
    ORACLE_DATABASE,
    ORACLE_RMAN_JOBS,
    judge_oracle,
)
from checks.db_backup.postgresql import PG_ARCHIVER, PGBACKREST_CODES, wal_ordinal
from checks.db_backup.sqlserver import (
    SQLSERVER_AG,
    SQLSERVER_BACKUPS,
    SQLSERVER_INSTANCE,
    SQLSERVER_JOBS,
    SQLSERVER_SCHEDULES,
    MssqlInstance,
    agent_datetime,
    agent_duration,
    job_is_due,
    judge_agent_jobs,
    judge_sqlserver,
)
from checks.messages import say
from checks.result import Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ENGINES", "ENGINE_ALIASES", "MYSQL_HAS_HISTORY", "MYSQL_HISTORY", "NAME", "ORACLE_ARCHIVE_DESTS",
    "ORACLE_BACKUP_SETS", "ORACLE_DATABASE", "ORACLE_RMAN_JOBS", "OVERRIDE_KEYS", "PGBACKREST_CODES",
    "PG_ARCHIVER", "SQLSERVER_AG", "SQLSERVER_BACKUPS", "SQLSERVER_INSTANCE", "SQLSERVER_JOBS",
    "SQLSERVER_SCHEDULES", "SQL_DIALECTS", "DbBackupParams", "MssqlInstance", "Rule", "Seen", "agent_datetime",
    "agent_duration", "job_is_due", "judge_agent_jobs", "judge_backup", "judge_mysql", "judge_oracle",
    "judge_sqlserver", "run", "wal_ordinal",
]

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)

SQL_DIALECTS = {  # for the test that parses every statement
    "SQLSERVER_INSTANCE": "tsql", "SQLSERVER_BACKUPS": "tsql", "SQLSERVER_AG": "tsql",
    "SQLSERVER_JOBS": "tsql", "SQLSERVER_SCHEDULES": "tsql",
    "ORACLE_RMAN_JOBS": "oracle", "ORACLE_BACKUP_SETS": "oracle", "ORACLE_DATABASE": "oracle",
    "ORACLE_ARCHIVE_DESTS": "oracle",
    "PG_ARCHIVER": "postgres", "MYSQL_HAS_HISTORY": "mysql", "MYSQL_HISTORY": "mysql",
}


# --------------------------------------------------------------------------- run

def run(params: DbBackupParams, ctx: CheckContext, *,
        connect: Callable[..., Any] | None = None,
        run: Callable[..., Any] = subprocess.run,
        environ: Mapping[str, str] = os.environ) -> list[Result]:
    results: list[Result] = []
    if params.engine == "postgresql" and params.pgbackrest_stanza:
        results.extend(postgresql.pgbackrest(params, ctx, run))
        if not params.dsn:
            return results
    if not params.dsn:
        return [problem("connection", Status.UNKNOWN,
                         "dsn: no ODBC connection string configured (e.g. DRIVER={...};SERVER=...;UID=...)")]
    try:
        password = _odbc.read_password(params.password_file, params.password_env, environ)
    except _odbc.ConfigError as exc:
        return results + [problem("connection", Status.UNKNOWN, exc.summary)]
    try:
        conn = _odbc.connect(params.dsn, password, login_timeout=params.login_timeout,
                             query_timeout=params.query_timeout, connect=connect)
    except _odbc.ConfigError as exc:
        return results + [problem("connection", Status.UNKNOWN, exc.summary)]
    except _odbc.DbError as exc:
        log.info("db_backup: %s", exc.summary)
        return results + [problem("connection", Status.CRITICAL, say("results.engine_error", engine=params.engine,
                                                                           error=exc.summary))]
    q = Query(conn, password)
    try:
        engine_run = {"sqlserver": sqlserver.run, "oracle": oracle.run,
                      "postgresql": postgresql.run, "mysql": mysql.run}[params.engine]
        results.extend(engine_run(params, ctx, q))
    except _odbc.DbError as exc:
        results.append(problem("catalog", Status.UNKNOWN, exc.summary))
    finally:
        try:
            conn.close()
        except Exception:  # closing a broken connection must not hide the verdict
            pass
    return results
