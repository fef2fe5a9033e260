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

import fnmatch
import json
import logging
import os
import statistics
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

from checks import _odbc
from checks._units import format_bytes, format_seconds
from checks.context import CheckContext
from checks.params import Duration, parse_duration
from checks.result import Metric, Result, Status

NAME = "db_backup"
log = logging.getLogger(__name__)

ENGINES = ("sqlserver", "oracle", "postgresql", "mysql")
ENGINE_ALIASES = _odbc.ENGINE_ALIASES
OVERRIDE_KEYS = ("full_max_age", "diff_max_age", "log_max_age", "archive_max_age", "job_max_age")
H = 3600.0
_Query = _odbc.Query  # q(sql, *args, what=...) on one connection


@dataclass(frozen=True)
class DbBackupParams:
    engine: str = "sqlserver"
    #: ODBC connection string WITHOUT the password, e.g. ``DRIVER={ODBC Driver 18 for SQL Server};...``
    dsn: str = ""
    password_file: str = ""
    password_env: str = ""
    full_max_age: Duration = Duration(26 * H)
    #: a full or a differential backup within this age
    diff_max_age: Duration = Duration(26 * H)
    #: log backups of FULL / BULK_LOGGED recovery databases (RMAN: ARCHIVELOG backups)
    log_max_age: Duration = Duration(1 * H)
    #: postgresql: newest archived WAL file, judged only while WAL files wait
    archive_max_age: Duration = Duration(1 * H)
    login_timeout: Duration = Duration(10)
    query_timeout: Duration = Duration(30)
    #: glob patterns of database names to judge (default all); ``exclude`` wins
    databases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: ``"<name>:<key>=<duration>"``: name is a database, or an item such as ``rman/ARCHIVELOG``,
    #: ``pgbackrest/main``, ``job/<job name>`` (globs allowed); key one of OVERRIDE_KEYS
    override: tuple[str, ...] = ()
    #: sqlserver: copy-only backups count too (copy-only fulls of Availability Group databases
    #: always count: a secondary replica can take no other full)
    copy_only: bool = False
    min_size_ratio: float = 0.5
    #: sqlserver: a full/diff backup without CHECKSUM is "unverified" (WARNING)
    require_checksum: bool = False
    #: postgresql: WAL archiving, oracle: ARCHIVELOG mode is expected (off → CRITICAL); false leaves
    #: the archive item out
    archiving: bool = True
    pgbackrest_stanza: str = ""
    pgbackrest_command: str = "pgbackrest"
    #: sqlserver: also judge SQL Server Agent jobs (items ``job/<name>``)
    jobs: bool = False
    #: a scheduled, enabled Agent job must have run within this age
    job_max_age: Duration = Duration(26 * H)
    #: oracle: how far back V$RMAN_BACKUP_JOB_DETAILS is read
    rman_lookback: Duration = Duration(8 * 24 * H)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", _odbc.engine_name(self.engine, ENGINES))
        _odbc.check_connection_params(self.dsn, self.password_file, self.password_env)
        if not 0 <= self.min_size_ratio <= 1:
            raise ValueError(f"min_size_ratio: expected a ratio between 0 and 1 "
                             f"(got {self.min_size_ratio:g})")
        for key in ("full_max_age", "diff_max_age", "log_max_age", "archive_max_age", "job_max_age",
                    "login_timeout", "query_timeout", "rman_lookback"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be more than 0")
        for text in self.override:
            _parse_override(text)

    def max_age(self, key: str, *names: str) -> float:
        """The threshold ``key`` for an item, after the first matching override."""
        for text in self.override:
            pattern, okey, seconds = _parse_override(text)
            if okey == key and any(fnmatch.fnmatchcase(n.lower(), pattern.lower()) for n in names):
                return seconds
        return float(getattr(self, key))

    def wanted(self, name: str) -> bool:
        low = name.lower()
        if any(fnmatch.fnmatchcase(low, p.lower()) for p in self.exclude):
            return False
        return not self.databases or any(fnmatch.fnmatchcase(low, p.lower()) for p in self.databases)


def _parse_override(text: str) -> tuple[str, str, float]:
    name, sep, rest = text.rpartition(":")
    key, eq, value = rest.partition("=")
    key = key.strip()
    if not sep or not name.strip() or not eq or key not in OVERRIDE_KEYS:
        raise ValueError(f"override: expected '<name>:<key>=<duration>' with key one of "
                         f"{', '.join(OVERRIDE_KEYS)} (got {text!r})")
    try:
        seconds = parse_duration(value.strip())
    except ValueError as exc:
        raise ValueError(f"override: {exc} in {text!r}") from None
    if seconds <= 0:
        raise ValueError(f"override: the duration must be more than 0 in {text!r}")
    return name.strip(), key, seconds


# --------------------------------------------------------------------------- SQL (catalogs only)

#: SQL Server: who the instance is and what it can do.  ``@@SERVERNAME`` comes from
#: sys.servers and keeps the name given at installation; ``SERVERPROPERTY('ServerName')`` and
#: ``'MachineName'`` follow the computer's current name, so on a host renamed after SQL Server
#: was installed (a cloned VM) they differ.  ``IsHadrEnabled`` is NULL before SQL Server 2012.
#: Sources: learn.microsoft.com @@SERVERNAME, SERVERPROPERTY; "Rename a computer that hosts a
#: stand-alone instance of SQL Server".
SQLSERVER_INSTANCE = """
SELECT @@SERVERNAME AS server_name_now,
       CAST(SERVERPROPERTY('ServerName') AS nvarchar(128)) AS server_property_name,
       CAST(SERVERPROPERTY('MachineName') AS nvarchar(128)) AS machine_name_now,
       CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version,
       CAST(SERVERPROPERTY('IsHadrEnabled') AS int) AS is_hadr_enabled
"""

#: SQL Server 2005 and later (2008 R2 included: nothing here needs 2012): the newest nine backups
#: per database, type and copy-only flag taken on THIS server (its installed or current name,
#: compared case-insensitively, or its machine name), for every database that is not tempdb or
#: a snapshot, whatever its state, never-backed-up ones included.  Types: D full, P partial,
#: I differential, Q partial differential, L log (F/G file backups do not vouch for a
#: database).  One row per backup: the first media family of the first mirror only (MIRROR TO
#: writes one backupmediafamily row per mirror).  Sources: learn.microsoft.com backupset,
#: backupmediafamily, sys.databases, sys.database_mirroring; dbatools Get-DbaDbBackupHistory.
SQLSERVER_BACKUPS = """
WITH recent AS (
    SELECT b.backup_set_id, b.database_name, b.type, b.backup_start_date, b.backup_finish_date,
           b.backup_size, b.compressed_backup_size, b.is_copy_only, b.has_backup_checksums,
           b.server_name, b.machine_name, mf.physical_device_name, mf.mirror,
           DATEDIFF(second, b.backup_finish_date, GETDATE()) AS age_s,
           ROW_NUMBER() OVER (PARTITION BY b.database_name, b.type, b.is_copy_only
                              ORDER BY b.backup_finish_date DESC) AS rn
    FROM msdb.dbo.backupset AS b
    LEFT JOIN msdb.dbo.backupmediafamily AS mf
           ON mf.media_set_id = b.media_set_id AND mf.family_sequence_number = 1 AND mf.mirror = 0
    WHERE b.type IN ('D', 'P', 'I', 'Q', 'L')
      AND (UPPER(b.server_name) IN (UPPER(@@SERVERNAME),
                                    UPPER(CAST(SERVERPROPERTY('ServerName') AS nvarchar(128))))
           OR UPPER(b.machine_name) = UPPER(CAST(SERVERPROPERTY('MachineName') AS nvarchar(128))))
)
SELECT d.name AS database_name, d.recovery_model_desc, d.state_desc, d.create_date,
       DATEDIFF(second, d.create_date, GETDATE()) AS created_age_s, m.mirroring_role_desc,
       r.backup_set_id, r.type, r.backup_start_date, r.backup_finish_date, r.backup_size,
       r.compressed_backup_size, r.is_copy_only, r.has_backup_checksums, r.server_name,
       r.machine_name, r.physical_device_name, r.mirror, r.age_s, r.rn
FROM sys.databases AS d
LEFT JOIN sys.database_mirroring AS m ON m.database_id = d.database_id
LEFT JOIN recent AS r ON r.database_name = d.name AND r.rn <= 9
WHERE d.database_id <> 2 AND d.source_database_id IS NULL
ORDER BY d.name, r.type, r.rn
"""

#: SQL Server 2012 and later, asked only when ``IsHadrEnabled`` = 1 (``replica_id`` and the
#: HADR views do not exist on 2008 R2): each Availability Group database, its group, the group's
#: backup preference, this replica's role and whether this replica is the preferred backup
#: replica.  Sources: learn.microsoft.com sys.databases (replica_id), sys.availability_replicas,
#: sys.availability_groups, sys.dm_hadr_availability_replica_states,
#: sys.fn_hadr_backup_is_preferred_replica.
SQLSERVER_AG = """
SELECT d.name AS database_name, ag.name AS availability_group,
       ag.automated_backup_preference_desc AS backup_preference, rs.role_desc AS replica_role,
       sys.fn_hadr_backup_is_preferred_replica(d.name) AS preferred_replica
FROM sys.databases AS d
JOIN sys.availability_replicas AS ar ON ar.replica_id = d.replica_id
JOIN sys.availability_groups AS ag ON ag.group_id = ar.group_id
LEFT JOIN sys.dm_hadr_availability_replica_states AS rs ON rs.replica_id = d.replica_id
WHERE d.replica_id IS NOT NULL
"""

#: SQL Server Agent: per job its newest outcome row (step_id 0) and every outcome row after
#: the instance_id seen last time (``?``); jobs without history rows come with NULLs, and with
#: the last outcome msdb.dbo.sysjobservers keeps for each job even after the history was
#: trimmed (the Agent keeps 1000 rows, 100 per job, by default).  Sources: learn.microsoft.com
#: dbo.sysjobhistory, dbo.sysjobs, dbo.sysjobservers; Checkmk's mssql.vbs (jobs section).
SQLSERVER_JOBS = """
WITH outcomes AS (
    SELECT h.job_id, h.instance_id, h.run_status, h.run_date, h.run_time, h.run_duration,
           h.message, h.server,
           ROW_NUMBER() OVER (PARTITION BY h.job_id ORDER BY h.instance_id DESC) AS rn
    FROM msdb.dbo.sysjobhistory AS h
    WHERE h.step_id = 0
)
SELECT j.name AS job_name, j.enabled,
       o.instance_id, o.run_status, o.run_date, o.run_time, o.run_duration, o.message, o.server,
       o.rn, sv.last_run_outcome, sv.last_run_date, sv.last_run_time, sv.last_run_duration,
       sv.last_outcome_message, GETDATE() AS server_now
FROM msdb.dbo.sysjobs AS j
LEFT JOIN msdb.dbo.sysjobservers AS sv ON sv.job_id = j.job_id AND sv.server_id = 0
LEFT JOIN outcomes AS o ON o.job_id = j.job_id AND (o.rn = 1 OR o.instance_id > ?)
ORDER BY j.name, o.instance_id DESC
"""

#: SQL Server Agent: every schedule attached to a job, to tell which jobs are expected to run.
#: Source: learn.microsoft.com dbo.sysjobschedules, dbo.sysschedules (freq_type 1 once,
#: 4 daily, 8 weekly, 16 monthly, 32 monthly relative, 64 at Agent start, 128 when idle;
#: active_start_date / active_end_date yyyyMMdd integers, 99991231 = no end).
SQLSERVER_SCHEDULES = """
SELECT j.name AS job_name, s.name AS schedule_name, s.enabled, s.freq_type,
       s.active_start_date, s.active_end_date
FROM msdb.dbo.sysjobs AS j
JOIN msdb.dbo.sysjobschedules AS js ON js.job_id = j.job_id
JOIN msdb.dbo.sysschedules AS s ON s.schedule_id = js.schedule_id
ORDER BY j.name, s.name
"""

#: Oracle: RMAN sessions of the last ``?`` days.  Source: docs.oracle.com V$RMAN_BACKUP_JOB_DETAILS.
ORACLE_RMAN_JOBS = """
SELECT session_key, input_type, status, start_time, end_time, input_bytes, output_bytes,
       output_device_type, (SYSDATE - end_time) * 86400 AS age_s
FROM v$rman_backup_job_details
WHERE start_time > SYSDATE - ?
ORDER BY start_time DESC
"""

#: Oracle: newest backup set per type (D full, I incremental, L archivelog) and incremental level
#: (NULL for full, archivelog, control file and spfile sets, 0 and 1 for incremental levels);
#: V$RMAN_BACKUP_JOB_DETAILS calls both levels "DB INCR", so a missed weekly level 0 shows only
#: here.  BACKUP VALIDATE reads files without writing a backup (INPUT_FILE_SCAN_ONLY = YES).
#: The control file keeps these records for CONTROL_FILE_RECORD_KEEP_TIME (7 days by default).
#: Source: docs.oracle.com V$BACKUP_SET (Oracle 10g ... 21c).
ORACLE_BACKUP_SETS = """
SELECT backup_type, incremental_level, MAX(completion_time) AS last_completion,
       (SYSDATE - MAX(completion_time)) * 86400 AS age_s, COUNT(*) AS sets
FROM v$backup_set
WHERE input_file_scan_only = 'NO'
GROUP BY backup_type, incremental_level
"""

#: Oracle: which database this is and whether it archives its redo.  Source: V$DATABASE.
ORACLE_DATABASE = "SELECT name, db_unique_name, log_mode FROM v$database"

#: Oracle: the archived redo destinations in use and their state (VALID, DEFERRED, ERROR,
#: DISABLED, BAD PARAM, ALTERNATE, FULL) with the last error.  Source: docs.oracle.com
#: V$ARCHIVE_DEST_STATUS (10g ... 21c).
ORACLE_ARCHIVE_DESTS = """
SELECT dest_id, dest_name, status, type, destination, error
FROM v$archive_dest_status
WHERE status <> 'INACTIVE'
ORDER BY dest_id
"""

#: PostgreSQL: the archiver's statistics, whether it is failing now, and which WAL file is
#: being written (to count files waiting).  Source: postgresql.org pg_stat_archiver.
PG_ARCHIVER = """
SELECT a.archived_count, a.last_archived_wal, a.last_archived_time, a.failed_count,
       a.last_failed_wal, a.last_failed_time, a.stats_reset,
       CAST(EXTRACT(EPOCH FROM now() - a.last_archived_time) AS float8) AS archived_age_s,
       CASE WHEN a.last_failed_time IS NOT NULL
             AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time)
            THEN 1 ELSE 0 END AS failing,
       current_setting('archive_mode') AS archive_mode,
       CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal,
       (SELECT s.setting FROM pg_settings AS s WHERE s.name = 'wal_segment_size') AS wal_segment_size,
       current_setting('cluster_name') AS cluster_name,
       current_setting('server_version') AS server_version
FROM pg_stat_archiver AS a
"""

#: MySQL/MariaDB: does MySQL Enterprise Backup's history table exist (and may we see it)?
MYSQL_HAS_HISTORY = """
SELECT COUNT(*) AS n FROM information_schema.tables
WHERE table_schema = 'mysql' AND table_name = 'backup_history'
"""

#: MySQL Enterprise Backup's own log of its runs.
#: Source: dev.mysql.com/doc/mysql-enterprise-backup/8.0/en/trouble.logging.html
MYSQL_HISTORY = """
SELECT backup_id, backup_type, exit_state, start_time, end_time, backup_destination, last_error,
       TIMESTAMPDIFF(SECOND, end_time, NOW()) AS age_s
FROM mysql.backup_history
ORDER BY end_time DESC
LIMIT 200
"""

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
        results.extend(_pgbackrest(params, ctx, run))
        if not params.dsn:
            return results
    if not params.dsn:
        return [_problem("connection", Status.UNKNOWN,
                         "dsn: no ODBC connection string configured (e.g. DRIVER={...};SERVER=...;UID=...)")]
    try:
        password = _odbc.read_password(params.password_file, params.password_env, environ)
    except _odbc.ConfigError as exc:
        return results + [_problem("connection", Status.UNKNOWN, exc.summary)]
    try:
        conn = _odbc.connect(params.dsn, password, login_timeout=params.login_timeout,
                             query_timeout=params.query_timeout, connect=connect)
    except _odbc.ConfigError as exc:
        return results + [_problem("connection", Status.UNKNOWN, exc.summary)]
    except _odbc.DbError as exc:
        log.info("db_backup: %s", exc.summary)
        return results + [_problem("connection", Status.CRITICAL, f"{params.engine}: {exc.summary}")]
    q = _Query(conn, password)
    try:
        engine_run = {"sqlserver": _sqlserver, "oracle": _oracle,
                      "postgresql": _postgresql, "mysql": _mysql}[params.engine]
        results.extend(engine_run(params, ctx, q))
    except _odbc.DbError as exc:
        results.append(_problem("catalog", Status.UNKNOWN, exc.summary))
    finally:
        try:
            conn.close()
        except Exception:  # closing a broken connection must not hide the verdict
            pass
    return results


def _problem(item: str, status: Status, summary: str) -> Result:
    return Result(check=NAME, item=item, status=status, summary=summary[:1000])


# --------------------------------------------------------------------------- judging

@dataclass(frozen=True)
class Seen:
    """One backup as the catalog reports it."""

    finished: datetime | None  # as the server reports it (server-local for msdb, Oracle, MySQL)
    age_s: float
    size: float | None = None
    location: str = ""
    verified: bool | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    what: str          # "full backup", "full or differential backup", "log backup", ...
    max_age: float
    word: str = "missed"  # "missed" for scheduled backups, "stale" for continuous streams

    @property
    def standard(self) -> str:
        return f"{self.what} within {format_seconds(self.max_age)}"


def judge_backup(item: str, label: str, rule: Rule, seen: Seen | None, *,
                 earlier_sizes: Iterable[float | None] = (), min_size_ratio: float = 0.5,
                 require_verified: bool = False, created_age_s: float | None = None,
                 details: Mapping[str, Any] | None = None,
                 extra: Iterable[tuple[Status, str, str]] = ()) -> Result:
    """The verdict on the newest backup of one kind: age, size, verification.

    ``extra`` adds findings judged elsewhere (a failed job) as (status, verdict, text).
    """
    info: dict[str, Any] = {"item": item, "type": rule.what, "rule": rule.standard}
    info.update(details or {})
    findings: list[tuple[Status, str, str]] = list(extra)
    metrics = [Metric("age_seconds", None if seen is None else round(seen.age_s, 1), "s",
                      crit=rule.max_age, min=0)]
    if seen is None and any(f[0] is Status.CRITICAL for f in findings):
        pass  # a failure already explains the missing backup
    elif seen is None:
        if created_age_s is not None and created_age_s < rule.max_age:
            findings.append((Status.OK, "new",
                             f"{label}: new database (created {format_seconds(created_age_s)} ago), "
                             f"not backed up yet; the first {rule.what} is due within "
                             f"{format_seconds(rule.max_age)} of its creation"))
        else:
            findings.append((Status.CRITICAL, "never backed up",
                             f"{label}: never backed up (no {rule.what} on record)"))
    else:
        when = _when(seen.finished)
        info.update({"finished": when, "age_seconds": round(seen.age_s)})
        if seen.size is not None:
            info["size_bytes"] = int(seen.size)
            metrics.append(Metric("size_bytes", float(seen.size), "B", min=0))
        if seen.location:
            info["location"] = seen.location
        info.update(seen.evidence)
        if seen.age_s >= rule.max_age:
            lead = "none since" if rule.word == "missed" else "last one"
            findings.append((Status.CRITICAL, rule.word,
                             f"{label}: {rule.what} {rule.word}: {lead} {when} ({format_seconds(seen.age_s)} ago; "
                             f"expected within {format_seconds(rule.max_age)})"))
        sizes = [float(s) for s in earlier_sizes if s is not None and s > 0]
        if seen.size is not None and len(sizes) >= 3 and min_size_ratio > 0:
            median = statistics.median(sizes)
            info["median_size_bytes"] = int(median)
            if seen.size < min_size_ratio * median:
                findings.append((Status.WARNING, "too small",
                                 f"{label}: {rule.what} of {when} too small: {format_bytes(seen.size)}, below "
                                 f"{min_size_ratio * 100:.0f} % of the median {format_bytes(median)} "
                                 f"of the {len(sizes)} before it"))
        if require_verified and seen.verified is False:
            findings.append((Status.WARNING, "unverified",
                             f"{label}: {rule.what} of {when} unverified: taken without CHECKSUM"))
    bad = [f for f in findings if f[0] is not Status.OK]
    if bad:
        bad.sort(key=lambda f: -f[0].severity)
        status = Status.worst(f[0] for f in bad)
        summary = "; ".join([bad[0][2]] + [f[2].removeprefix(f"{label}: ") for f in bad[1:]])
        info["verdict"] = [f[1] for f in bad]
    elif findings:  # only the "new database" note
        status, summary = Status.OK, findings[0][2]
        info["verdict"] = ["new"]
    else:
        assert seen is not None
        size = f", {format_bytes(seen.size)}" if seen.size is not None else ""
        status = Status.OK
        kind = seen.evidence.get("kind") or rule.what
        summary = (f"{label}: {kind} {_when(seen.finished)} ({format_seconds(seen.age_s)} ago; expected within "
                   f"{format_seconds(rule.max_age)}){size}")
        info["verdict"] = ["ok"]
    return Result(check=NAME, item=item[:255], status=status, summary=summary[:1000], standard=rule.standard,
                  metrics=tuple(metrics), details=_jsonable(info))


def _when(dt: datetime | None) -> str:
    if dt is None:
        return "an unknown time"
    if dt.tzinfo is not None:
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%d %H:%M")


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, Decimal | int | float) and not isinstance(v, bool):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _truthy(v: Any) -> bool:
    """Booleans as drivers return them: bool, 0/1, '0'/'1', 't'/'f'."""
    if isinstance(v, str):
        return v.strip().lower() in ("1", "t", "true", "y", "yes", "on")
    return bool(v)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


# --------------------------------------------------------------------------- PostgreSQL

def wal_ordinal(walfile: str, segment_size: int) -> int:
    """Position of a WAL file in the WAL stream (timeline ignored): log × files per log + segment."""
    log_id, seg = int(walfile[8:16], 16), int(walfile[16:24], 16)
    return log_id * (0x100000000 // segment_size) + seg


def _postgresql(params: DbBackupParams, ctx: CheckContext, q: _Query) -> list[Result]:
    if not params.archiving:
        return []
    [row] = q(PG_ARCHIVER, what="pg_stat_archiver")
    rule = Rule("archived WAL file", params.max_age("archive_max_age", "archive"), word="stale")
    evidence: dict[str, Any] = {
        "archive_mode": row["archive_mode"], "archived_count": int(row["archived_count"] or 0),
        "failed_count": int(row["failed_count"] or 0), "last_archived_wal": row["last_archived_wal"],
        "last_archived_time": row["last_archived_time"], "last_failed_wal": row["last_failed_wal"],
        "last_failed_time": row["last_failed_time"], "stats_reset": row["stats_reset"],
        "current_wal": row["current_wal"], "cluster_name": row["cluster_name"] or "",
        "server_version": row["server_version"],
    }
    failed = Metric("failed_count", float(evidence["failed_count"]), "count", min=0)
    item, label = "archive", "WAL archive"
    if str(row["archive_mode"]).lower() == "off":
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=rule.standard,
                       summary=f"{label}: WAL archiving is off (archive_mode = off): no point-in-time "
                               f"recovery; set archive_mode or set archiving: false and judge dumps "
                               f"with backup_files",
                       metrics=(Metric("age_seconds", None, "s", crit=rule.max_age, min=0),),
                       details=_jsonable({**evidence, "verdict": ["off"]}))]
    if _truthy(row["in_recovery"]) and str(row["archive_mode"]).lower() != "always":
        return [Result(check=NAME, item=item, status=Status.OK, standard=rule.standard,
                       summary=f"{label}: standby server; WAL is archived by the primary (archive_mode = on)",
                       details=_jsonable({**evidence, "verdict": ["standby"]}))]
    pending: int | None = None
    if row["current_wal"] and row["last_archived_wal"] and row["wal_segment_size"]:
        pending = max(0, wal_ordinal(row["current_wal"], int(row["wal_segment_size"]))
                      - wal_ordinal(row["last_archived_wal"], int(row["wal_segment_size"])) - 1)
        evidence["pending_wal_files"] = pending
    age = _num(row["archived_age_s"])
    seen = None if age is None else Seen(
        row["last_archived_time"], age, location=row["last_archived_wal"] or "",
        evidence={"kind": f"last WAL file {row['last_archived_wal']} archived"})
    extra: list[tuple[Status, str, str]] = []
    if _truthy(row["failing"]):
        since = f"last success {_when(row['last_archived_time'])}" if row["last_archived_time"] else \
            "no success since the statistics were reset"
        extra.append((Status.CRITICAL, "failed",
                      f"{label}: archiving failed: {row['last_failed_wal']} could not be archived "
                      f"(last attempt {_when(row['last_failed_time'])}, {evidence['failed_count']} failures "
                      f"counted; {since}); see the server log for archive_command's error"))
    metrics_extra = [failed]
    if pending is not None:
        metrics_extra.append(Metric("pending_wal_files", float(pending), "count", min=0))
    if seen is None and not extra:
        result = Result(check=NAME, item=item, status=Status.WARNING, standard=rule.standard,
                        summary=f"{label}: no WAL file archived yet (statistics since "
                                f"{_when(row['stats_reset'])})",
                        metrics=(Metric("age_seconds", None, "s", crit=rule.max_age, min=0), *metrics_extra),
                        details=_jsonable({**evidence, "verdict": ["never archived"]}))
        return [result]
    if seen is not None and pending == 0 and seen.age_s >= rule.max_age and not extra:
        # idle server: nothing waits, so an old last archive is no fault
        r = judge_backup(item, label, rule, seen, details=evidence)
        return [Result(check=NAME, item=item, status=Status.OK, standard=rule.standard,
                       summary=f"{label}: idle, no WAL file waiting; last archived {_when(seen.finished)} "
                               f"({format_seconds(seen.age_s)} ago)",
                       metrics=(Metric("age_seconds", round(seen.age_s, 1), "s", crit=rule.max_age, min=0),
                                *metrics_extra),
                       details={**r.details, "verdict": ["idle"]})]
    r = judge_backup(item, label, rule, seen, details=evidence, extra=extra)
    if pending and r.status is Status.CRITICAL and "stale" in r.details.get("verdict", []):
        r = Result(check=NAME, item=item, status=r.status, standard=r.standard, metrics=r.metrics,
                   summary=f"{r.summary}, {pending} WAL file(s) waiting", details=r.details)
    return [Result(check=NAME, item=r.item, status=r.status, summary=r.summary, standard=r.standard,
                   metrics=(*r.metrics, *metrics_extra), details=r.details)]


PGBACKREST_CODES = {
    1: "missing stanza path", 2: "no valid backups", 3: "missing stanza data",
    4: "different across repositories", 5: "database mismatch across repositories",
    6: "requested backup not found", 99: "other",
}


def _pgbackrest(params: DbBackupParams, ctx: CheckContext, run: Callable[..., Any]) -> list[Result]:
    stanza = params.pgbackrest_stanza
    item, label = f"pgbackrest/{stanza}", f"pgBackRest stanza {stanza}"
    cmd = [params.pgbackrest_command, "--output=json", f"--stanza={stanza}", "info"]
    try:
        done = run(cmd, capture_output=True, text=True, timeout=params.query_timeout, check=False)
    except FileNotFoundError:
        return [_problem(item, Status.UNKNOWN, f"{label}: {params.pgbackrest_command} is not installed here "
                                               f"(set pgbackrest_command to its path)")]
    except subprocess.TimeoutExpired:
        return [_problem(item, Status.UNKNOWN, f"{label}: pgbackrest info gave no answer within "
                                               f"{params.query_timeout:g} s")]
    if done.returncode != 0:
        err = " ".join((done.stderr or done.stdout or "").split())[:300]
        return [_problem(item, Status.CRITICAL, f"{label}: pgbackrest info failed "
                                                f"(exit {done.returncode}): {err}")]
    try:
        stanzas = json.loads(done.stdout)
        entry = next(s for s in stanzas if s.get("name") == stanza)
    except (ValueError, StopIteration, AttributeError, TypeError):
        return [_problem(item, Status.UNKNOWN, f"{label}: pgbackrest info printed no JSON for this stanza")]
    status = entry.get("status") or {}
    code = status.get("code")
    message = status.get("message") or (PGBACKREST_CODES.get(code, "") if isinstance(code, int) else "")
    backups = [b for b in entry.get("backup") or [] if isinstance(b, dict)]
    full_rule = Rule("full backup", params.max_age("full_max_age", item))
    any_rule = Rule("full, differential or incremental backup", params.max_age("diff_max_age", item))
    evidence = {"stanza": stanza, "status_code": code, "status_message": message, "backups": len(backups)}
    if code == 2 or (code == 0 and not backups):
        return [judge_backup(item, label, full_rule, None, details=evidence)]
    if code != 0:
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=any_rule.standard,
                       summary=f"{label}: failed: status {code} ({message})",
                       metrics=(Metric("age_seconds", None, "s", crit=any_rule.max_age, min=0),),
                       details=_jsonable({**evidence, "verdict": ["failed"]}))]

    def seen(b: dict[str, Any]) -> Seen:
        stop = float(b.get("timestamp", {}).get("stop") or 0)
        finished = datetime.fromtimestamp(stop, UTC)
        size = _num((b.get("info") or {}).get("size"))
        return Seen(finished, (ctx.now - finished).total_seconds(), size=size,
                    location=str((b.get("database") or {}).get("repo-key", "")),
                    evidence={"kind": f"{b.get('type', '?')} backup {b.get('label', '')}",
                              "label": b.get("label"), "backup_type": b.get("type"),
                              "finished_utc": finished.isoformat(), "error": b.get("error")})

    newest = backups[-1]
    same_type = [_num((b.get("info") or {}).get("size"))
                 for b in backups[:-1] if b.get("type") == newest.get("type")]
    extra: list[tuple[Status, str, str]] = []
    fulls = [b for b in backups if b.get("type") == "full"]
    if not fulls:
        extra.append((Status.CRITICAL, "never backed up", f"{label}: no full backup in the repository"))
    elif seen(fulls[-1]).age_s >= full_rule.max_age:
        f = seen(fulls[-1])
        extra.append((Status.CRITICAL, "missed",
                      f"{label}: full backup missed: none since {_when(f.finished)} "
                      f"({format_seconds(f.age_s)} ago; expected within {format_seconds(full_rule.max_age)})"))
    if newest.get("error") is True:
        extra.append((Status.WARNING, "unverified", f"{label}: backup {newest.get('label')} found page "
                                                     f"checksum errors"))
    return [judge_backup(item, label, any_rule, seen(newest), earlier_sizes=same_type[-8:],
                         min_size_ratio=params.min_size_ratio, details=evidence, extra=extra)]


# --------------------------------------------------------------------------- SQL Server

#: backupset.type → the list it is judged in: partial backups count as full and partial
#: differentials as differentials (as dbatools groups them)
_MSSQL_GROUP = {"D": "D", "P": "D", "I": "I", "Q": "I", "L": "L"}
_MSSQL_LABEL = {"D": "full backup", "P": "partial full backup", "I": "differential backup",
                "Q": "partial differential backup", "L": "log backup"}


@dataclass(frozen=True)
class MssqlInstance:
    """What a SQL Server says about itself (a row of :data:`SQLSERVER_INSTANCE`)."""

    server_name: str = ""     # @@SERVERNAME: the name given at installation
    property_name: str = ""   # SERVERPROPERTY('ServerName'): the computer's current name\instance
    machine_name: str = ""    # SERVERPROPERTY('MachineName')
    version: str = ""
    hadr: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MssqlInstance:
        return cls(server_name=str(row.get("server_name_now") or ""),
                   property_name=str(row.get("server_property_name") or ""),
                   machine_name=str(row.get("machine_name_now") or ""),
                   version=str(row.get("product_version") or ""),
                   hadr=_truthy(row.get("is_hadr_enabled")))

    @property
    def renamed(self) -> bool:
        """@@SERVERNAME differs from the current name: sys.fn_hadr_backup_is_preferred_replica
        then answers 0 on every replica (Ola Hallengren's maintenance solution, issue #651)."""
        return bool(self.server_name and self.property_name) and self.server_name != self.property_name

    def took(self, row: Mapping[str, Any]) -> bool:
        """Was this backupset row written by this server (and not by one whose msdb was restored here)?"""
        server, machine = str(row.get("server_name") or ""), str(row.get("machine_name") or "")
        names = {n.upper() for n in (self.server_name, self.property_name) if n}
        if not (server or machine) or not (names or self.machine_name):
            return True
        return server.upper() in names or bool(machine and machine.upper() == self.machine_name.upper())


def _sqlserver(params: DbBackupParams, ctx: CheckContext, q: _Query) -> list[Result]:
    found = q(SQLSERVER_INSTANCE, what="server properties")
    instance = MssqlInstance.from_row(found[0] if found else {})
    rows = q(SQLSERVER_BACKUPS, what="msdb backup history")
    ag = q(SQLSERVER_AG, what="Availability Group state") if instance.hadr else []
    results = judge_sqlserver(rows, params, instance=instance, ag=ag)
    if params.jobs:
        last_seen = int(ctx.state.get("sqlagent_last_instance_id") or 0)
        jrows = q(SQLSERVER_JOBS, last_seen, what="SQL Agent job history")
        schedules = q(SQLSERVER_SCHEDULES, what="SQL Agent schedules")
        results.extend(judge_agent_jobs(jrows, params, ctx.state, schedules=schedules))
    return results


def judge_sqlserver(rows: list[dict[str, Any]], params: DbBackupParams, *,
                    instance: MssqlInstance | None = None,
                    ag: Iterable[Mapping[str, Any]] = ()) -> list[Result]:
    """Results from the rows of :data:`SQLSERVER_BACKUPS` (and :data:`SQLSERVER_AG`)."""
    instance = instance or MssqlInstance()
    ag_dbs = {str(r["database_name"]): r for r in ag}
    dbs = _mssql_databases(rows, params, instance, ag_dbs)
    results: list[Result] = []
    for name, db in dbs.items():
        if params.wanted(name):
            results.extend(_judge_mssql_database(name, db, params, instance, ag_dbs.get(name)))
    return results


def _mssql_databases(rows: list[dict[str, Any]], params: DbBackupParams, instance: MssqlInstance,
                     ag_dbs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows grouped per database: its first row, and its backups per group (D, I, L), newest first."""
    dbs: dict[str, dict[str, Any]] = {}
    seen_sets: set[Any] = set()
    for row in sorted(rows, key=lambda r: _num(r.get("mirror")) or 0):
        name = row["database_name"]
        db = dbs.setdefault(name, {"row": row, "D": [], "I": [], "L": []})
        group = _MSSQL_GROUP.get(row.get("type") or "")
        if group is None or not instance.took(row):
            continue
        set_id = row.get("backup_set_id")
        if set_id is not None:
            if set_id in seen_sets:  # a mirrored media set: one row per mirror
                continue
            seen_sets.add(set_id)
        # copy-only backups count where asked, and always as the fulls of an Availability Group
        # database: a secondary replica can take only copy-only fulls
        if _truthy(row.get("is_copy_only")) and not (
                params.copy_only or (group == "D" and name in ag_dbs)):
            continue
        db[group].append(row)
    for db in dbs.values():
        for group in ("D", "I", "L"):
            db[group].sort(key=lambda r: _num(r.get("age_s")) or 0.0)
    return dbs


def _mssql_kinds(name: str, db: Mapping[str, Any], model: str,
                 params: DbBackupParams) -> list[tuple[str, Rule, list[dict[str, Any]]]]:
    full_rule = Rule("full backup", params.max_age("full_max_age", name))
    diff_rule = Rule("full or differential backup", params.max_age("diff_max_age", name))
    kinds: list[tuple[str, Rule, list[dict[str, Any]]]] = [("full", full_rule, db["D"])]
    if db["I"] or full_rule.max_age > diff_rule.max_age:
        both = sorted(db["D"][:1] + db["I"][:1], key=lambda r: _num(r.get("age_s")) or 0.0)
        kinds.append(("diff", diff_rule, both + db["I"][1:]))
    # model is a template: FULL recovery by default, but nothing is logged in it to back up
    if model in ("FULL", "BULK_LOGGED") and name.lower() != "model":
        kinds.append(("log", Rule("log backup", params.max_age("log_max_age", name), word="stale"), db["L"]))
    return kinds


def _judge_mssql_database(name: str, db: Mapping[str, Any], params: DbBackupParams,
                          instance: MssqlInstance, ag_row: Mapping[str, Any] | None) -> list[Result]:
    first = db["row"]
    model = (first.get("recovery_model_desc") or "").upper()
    kinds = _mssql_kinds(name, db, model, params)
    base: dict[str, Any] = {"database": name, "server": instance.server_name or None,
                            "recovery_model": model, "state": first.get("state_desc"),
                            "created": first.get("create_date")}
    if instance.renamed:
        base["server_names"] = {"@@SERVERNAME": instance.server_name,
                                "SERVERPROPERTY('ServerName')": instance.property_name}
    extra: list[tuple[Status, str, str]] = []
    if ag_row is not None:
        base.update({"availability_group": ag_row.get("availability_group"),
                     "backup_preference": ag_row.get("backup_preference"),
                     "replica_role": ag_row.get("replica_role"),
                     "preferred_replica": _truthy(ag_row.get("preferred_replica"))})
        if not base["preferred_replica"] and not instance.renamed:
            return [Result(check=NAME, item=f"{name}/{kind}", status=Status.OK, standard=rule.standard,
                           summary=f"{name}: not the preferred backup replica of Availability Group "
                                   f"{ag_row.get('availability_group')}; {rule.what}s are judged on the "
                                   f"preferred replica",
                           details=_jsonable({**base, "verdict": ["not preferred replica"]}))
                    for kind, rule, _ in kinds]
        if not base["preferred_replica"]:
            extra.append((Status.WARNING, "replica preference unknown",
                          f"{name}: cannot tell whether this replica should take the backups: "
                          f"@@SERVERNAME {instance.server_name!r} differs from SERVERPROPERTY('ServerName') "
                          f"{instance.property_name!r}, so sys.fn_hadr_backup_is_preferred_replica answers 0 "
                          f"on every replica and maintenance jobs may skip the backup everywhere; rename the "
                          f"server in SQL Server (sp_dropserver, sp_addserver ... 'local', restart)"))
    results = []
    for kind, rule, backups in kinds:
        newest = backups[0] if backups else None
        same_type = [r for r in backups[1:] if newest and r["type"] == newest["type"]]
        result = judge_backup(
            f"{name}/{kind}", name, rule, _mssql_seen(newest) if newest else None,
            earlier_sizes=[_num(r.get("backup_size")) for r in same_type] if kind != "log" else (),
            min_size_ratio=params.min_size_ratio,
            require_verified=params.require_checksum and kind != "log",
            created_age_s=_num(first.get("created_age_s")), details=base, extra=extra)
        results.append(_mssql_state(result, name, first))
    return results


#: sys.databases.state_desc other than ONLINE: (status, what it means for backups)
_MSSQL_STATES = {
    "SUSPECT": (Status.CRITICAL, "damaged: SQL Server could not recover it; it cannot be backed up "
                                 "until it is restored or repaired"),
    "RECOVERY_PENDING": (Status.CRITICAL, "recovery could not start (a missing or unreadable file); "
                                          "it cannot be backed up"),
    "EMERGENCY": (Status.CRITICAL, "in emergency mode for repair; it cannot be backed up normally"),
    "OFFLINE": (Status.WARNING, "taken offline: not backed up while offline (exclude it if it is retired)"),
    "RESTORING": (Status.WARNING, "a restore is running, or it is a log-shipping standby: not backed up "
                                  "here (exclude standbys)"),
    "RECOVERING": (Status.WARNING, "recovering after a restart: backups resume when it is online"),
}


def _mssql_state(result: Result, name: str, row: Mapping[str, Any]) -> Result:
    """The verdict on a database that is not ONLINE: its state first, the backup evidence after."""
    state = str(row.get("state_desc") or "ONLINE").upper()
    if state == "ONLINE":
        return result
    if state == "RESTORING" and str(row.get("mirroring_role_desc") or "").upper() == "MIRROR":
        status, meaning = Status.OK, "the mirror of a database mirroring session: backed up on the principal"
    else:
        status, meaning = _MSSQL_STATES.get(state, (Status.WARNING, "not online: it cannot be backed up"))
    summary = f"{name}: database is {state}, {meaning}; {result.summary.removeprefix(f'{name}: ')}"
    details = {**result.details, "verdict": [state.lower(), *result.details.get("verdict", [])]}
    return Result(check=NAME, item=result.item, status=status, summary=summary[:1000],
                  standard=result.standard, metrics=result.metrics, details=details)


def _mssql_seen(row: dict[str, Any]) -> Seen:
    return Seen(
        finished=row.get("backup_finish_date"), age_s=_num(row.get("age_s")) or 0.0,
        size=_num(row.get("backup_size")), location=row.get("physical_device_name") or "",
        verified=None if row.get("has_backup_checksums") is None else _truthy(row["has_backup_checksums"]),
        evidence={"kind": ("copy-only " if _truthy(row.get("is_copy_only")) else "")
                  + _MSSQL_LABEL.get(row["type"], "backup"), "backup_type": row["type"],
                  "started": row.get("backup_start_date"),
                  "compressed_size_bytes": _num(row.get("compressed_backup_size")),
                  "copy_only": _truthy(row.get("is_copy_only")), "backup_server": row.get("server_name"),
                  "backup_machine": row.get("machine_name")})


def agent_datetime(run_date: int, run_time: int) -> datetime | None:
    """msdb's integer pair (yyyyMMdd, HHmmss) → a naive server-local datetime; None for 0 / junk."""
    if not run_date:
        return None
    try:
        return datetime(run_date // 10000, run_date // 100 % 100, run_date % 100,
                        run_time // 10000, run_time // 100 % 100, run_time % 100)
    except ValueError:
        return None


def agent_duration(run_duration: int) -> int:
    """msdb's HHMMSS integer (hours may exceed 99: 1000000 = 100 h) → seconds."""
    d = int(run_duration or 0)
    return d // 10000 * 3600 + d // 100 % 100 * 60 + d % 100


_AGENT_STATUS = {0: "failed", 1: "succeeded", 2: "retrying", 3: "canceled", 4: "in progress", 5: "unknown"}
_AGENT_FAILED = (0, 3)
#: sysschedules.freq_type; only the recurring ones make a job due within job_max_age
_FREQ_TYPES = {1: "once", 4: "daily", 8: "weekly", 16: "monthly", 32: "monthly, relative",
               64: "when SQL Server Agent starts", 128: "when the computer is idle"}
_RECURRING = frozenset({4, 8, 16, 32})


class _JobRun(TypedDict):
    """One outcome of a job (a msdb.dbo.sysjobhistory row, or sysjobservers' last outcome when the
    history was trimmed), with its start time and age on the server's clock."""

    row: dict[str, Any]
    at: datetime | None
    age: float | None
    status: int
    message: Any
    duration: int
    instance_id: int


def job_is_due(schedules: Iterable[Mapping[str, Any]], today: int | None) -> bool:
    """Does an enabled, recurring schedule (daily, weekly, monthly) that is in force ``today``
    (yyyyMMdd on the server) make this job expected to run?  One-time, at-Agent-start and idle
    schedules, and schedules past their end date, do not."""
    for s in schedules:
        if not _truthy(s.get("enabled")) or int(s.get("freq_type") or 0) not in _RECURRING:
            continue
        start, end = int(s.get("active_start_date") or 0), int(s.get("active_end_date") or 99991231)
        if today is None or start <= today <= end:
            return True
    return False


def judge_agent_jobs(rows: list[dict[str, Any]], params: DbBackupParams, state: Any, *,
                     schedules: Iterable[Mapping[str, Any]] = ()) -> list[Result]:
    """Results from the rows of :data:`SQLSERVER_JOBS` and :data:`SQLSERVER_SCHEDULES`;
    remembers the newest instance_id in ``state``."""
    last_seen = int(state.get("sqlagent_last_instance_id") or 0)
    jobs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        jobs.setdefault(row["job_name"], []).append(row)
    plans: dict[str, list[Mapping[str, Any]]] = {}
    for s in schedules:
        plans.setdefault(str(s["job_name"]), []).append(s)
    newest_id = max([last_seen, *(int(r["instance_id"]) for r in rows if r.get("instance_id") is not None)])
    results: list[Result] = []
    for name, jrows in jobs.items():
        if _truthy(jrows[0].get("enabled")) and params.wanted(f"job/{name}"):
            results.append(_judge_agent_job(name, jrows, plans.get(name, []), params, last_seen))
    state["sqlagent_last_instance_id"] = newest_id
    return results


def _job_runs(jrows: list[dict[str, Any]], now: datetime | None) -> tuple[list[_JobRun], bool]:
    """A job's outcomes, newest first; from sysjobservers when sysjobhistory has none left
    (second value True)."""
    def run(row: dict[str, Any], at: datetime | None, status: int, message: Any, duration: int,
            instance_id: int) -> _JobRun:
        age = (now - at).total_seconds() if (now and at) else None
        return {"row": row, "at": at, "age": age, "status": status, "message": message,
                "duration": duration, "instance_id": instance_id}

    runs = [run(r, agent_datetime(int(r.get("run_date") or 0), int(r.get("run_time") or 0)),
                int(r.get("run_status") or 0), r.get("message"), agent_duration(int(r.get("run_duration") or 0)),
                int(r["instance_id"]))
            for r in jrows if r.get("instance_id") is not None]
    runs.sort(key=lambda x: -x["instance_id"])
    first = jrows[0]
    at = agent_datetime(int(first.get("last_run_date") or 0), int(first.get("last_run_time") or 0))
    if runs or at is None:
        return runs, False
    outcome = first.get("last_run_outcome")
    return [run(first, at, 5 if outcome is None else int(outcome), first.get("last_outcome_message"),
                agent_duration(int(first.get("last_run_duration") or 0)), 0)], True


def _judge_agent_job(name: str, jrows: list[dict[str, Any]], schedules: list[Mapping[str, Any]],
                     params: DbBackupParams, last_seen: int) -> Result:
    item, label = f"job/{name}", name
    first = jrows[0]
    now = first.get("server_now")
    due = job_is_due(schedules, int(now.strftime("%Y%m%d")) if isinstance(now, datetime) else None)
    rule = Rule("scheduled job run", params.max_age("job_max_age", item, name))
    runs, trimmed = _job_runs(jrows, now)
    last = next((x for x in runs if int(x["row"].get("rn") or 0) == 1), runs[0] if runs else None)
    new_failures = [x for x in runs if x["status"] in _AGENT_FAILED and x["instance_id"] > last_seen
                    and (last_seen or (x["age"] is not None and x["age"] < rule.max_age))]
    details: dict[str, Any] = {
        "job": name, "scheduled": due,
        "schedules": [{"name": s.get("schedule_name"), "enabled": _truthy(s.get("enabled")),
                       "runs": _FREQ_TYPES.get(int(s.get("freq_type") or 0), str(s.get("freq_type"))),
                       "active_end_date": s.get("active_end_date")} for s in schedules]}
    if trimmed:
        details["source"] = "msdb.dbo.sysjobservers (the job history was trimmed)"
    metrics = [Metric("age_seconds", None if not last or last["age"] is None else round(last["age"]), "s",
                      crit=rule.max_age, min=0)]
    status, summary = Status.OK, ""
    if last is None:
        details["verdict"] = ["never ran"]
        if due:
            status, summary = Status.CRITICAL, f"{label}: missed: the scheduled job has never run"
        else:
            summary = f"{label}: enabled, no recurring schedule in force, has not run (nothing expected)"
    else:
        took = last["duration"]
        metrics.append(Metric("duration_seconds", float(took), "s", min=0))
        details.update({"last_run": last["at"], "last_outcome": _AGENT_STATUS.get(last["status"], "?"),
                        "duration_seconds": took, "server": last["row"].get("server"),
                        "message": _short(last["message"])})
        when = _when(last["at"])
        if last["status"] in _AGENT_FAILED:
            status = Status.CRITICAL
            details["verdict"] = ["failed"]
            how = "failed" if last["status"] == 0 else "failed: canceled"
            summary = f"{label}: {how} at {when} after {_hms(took)}: {_short(last['message'], 300)}"
        elif new_failures:
            f = new_failures[0]
            status = Status.WARNING
            details["verdict"] = ["failed"]
            summary = (f"{label}: failed at {_when(f['at'])} ({_short(f['message'], 200)}), "
                       f"then {_AGENT_STATUS.get(last['status'], '?')} at {when}")
        elif due and last["age"] is not None and last["age"] >= rule.max_age:
            status = Status.CRITICAL
            details["verdict"] = ["missed"]
            summary = (f"{label}: missed: has not run since {when} ({format_seconds(last['age'])} ago; "
                       f"expected within {format_seconds(rule.max_age)})")
        else:
            details["verdict"] = ["ok"]
            ago = f" ({format_seconds(last['age'])} ago)" if last["age"] is not None else ""
            summary = (f"{label}: last run {_AGENT_STATUS.get(last['status'], '?')} at {when}{ago}, "
                       f"took {_hms(took)}")
        if new_failures:
            details["failures_since_last_check"] = [
                {"at": x["at"], "outcome": _AGENT_STATUS[x["status"]], "message": _short(x["message"])}
                for x in new_failures[:10]]
    return Result(check=NAME, item=item[:255], status=status, summary=summary[:1000],
                  standard=rule.standard, metrics=tuple(metrics), details=_jsonable(details))


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _short(text: Any, limit: int = 500) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# --------------------------------------------------------------------------- Oracle

_RMAN_FAILED = ("FAILED", "COMPLETED WITH ERRORS")
#: V$ARCHIVE_DEST_STATUS.STATUS: redo is not archived there (CRITICAL) or on hold by hand (WARNING)
_DEST_FAILED = ("ERROR", "DISABLED", "BAD PARAM", "FULL")
_DEST_HELD = ("DEFERRED",)


def _rman_key(input_type: str) -> str:
    if input_type in ("DB INCR", "DATAFILE INCR"):
        return "diff_max_age"
    if input_type == "ARCHIVELOG":
        return "log_max_age"
    return "full_max_age"


def _oracle(params: DbBackupParams, ctx: CheckContext, q: _Query) -> list[Result]:
    jobs = q(ORACLE_RMAN_JOBS, round(params.rman_lookback / 86400, 3), what="V$RMAN_BACKUP_JOB_DETAILS")
    sets = q(ORACLE_BACKUP_SETS, what="V$BACKUP_SET")
    db = q(ORACLE_DATABASE, what="V$DATABASE")
    dests = q(ORACLE_ARCHIVE_DESTS, what="V$ARCHIVE_DEST_STATUS") if params.archiving else None
    return judge_oracle(jobs, sets, db[0] if db else {}, params, dests=dests)


def judge_oracle(jobs: list[dict[str, Any]], sets: list[dict[str, Any]], db: Mapping[str, Any],
                 params: DbBackupParams, *, dests: list[dict[str, Any]] | None = None) -> list[Result]:
    """Results from :data:`ORACLE_RMAN_JOBS`, :data:`ORACLE_BACKUP_SETS`, :data:`ORACLE_DATABASE`
    and (unless ``dests`` is None) :data:`ORACLE_ARCHIVE_DESTS` rows."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in jobs:
        by_type.setdefault((row.get("input_type") or "?").strip(), []).append(row)
    base = {"database": db.get("name"), "db_unique_name": db.get("db_unique_name"),
            "log_mode": db.get("log_mode"),
            "backup_sets": [{"backup_type": s.get("backup_type"),
                             "incremental_level": s.get("incremental_level"),
                             "last_completion": s.get("last_completion"), "sets": s.get("sets")}
                            for s in sets]}
    if not {"DB FULL", "DB INCR"} & set(by_type):
        by_type.setdefault("DB FULL", [])
    results = [_judge_rman_type(input_type, rows, base, params)
               for input_type, rows in sorted(by_type.items()) if params.wanted(f"rman/{input_type}")]
    level0 = _judge_level0(sets, "DB INCR" in by_type, base, params)
    if level0 is not None:
        results.append(level0)
    if dests is not None and params.wanted("archive"):
        results.append(_judge_archiving(db, dests))
    return results


def _rman_findings(label: str, input_type: str, rows: list[dict[str, Any]],
                   good: list[dict[str, Any]]) -> list[tuple[Status, str, str]]:
    """The newest job still running with errors or warnings; the newest finished one failed or warned."""
    extra: list[tuple[Status, str, str]] = []
    status = str(rows[0].get("status", "")) if rows else ""
    if status in ("RUNNING WITH ERRORS", "RUNNING WITH WARNINGS"):
        bad = status.endswith("ERRORS")
        extra.append((Status.CRITICAL if bad else Status.WARNING, "errors" if bad else "warnings",
                      f"{label}: {input_type}: the job started {_when(rows[0].get('start_time'))} is "
                      f"{status} (see V$RMAN_OUTPUT)"))
    finished = [r for r in rows if not str(r.get("status", "")).startswith("RUNNING")]
    if finished and finished[0].get("status") in _RMAN_FAILED:
        f = finished[0]
        last_good = f"; last good one {_when(good[0].get('end_time'))}" if good else ""
        extra.append((Status.CRITICAL, "failed",
                      f"{label}: {input_type} failed: the job started {_when(f.get('start_time'))} ended "
                      f"{f.get('status')}{last_good}"))
    elif finished and finished[0].get("status") == "COMPLETED WITH WARNINGS":
        extra.append((Status.WARNING, "warnings", f"{label}: {input_type}: the job started "
                      f"{_when(finished[0].get('start_time'))} COMPLETED WITH WARNINGS"))
    return extra


def _judge_rman_type(input_type: str, rows: list[dict[str, Any]], base: Mapping[str, Any],
                     params: DbBackupParams) -> Result:
    item, label = f"rman/{input_type}", "RMAN"
    rule = Rule(f"{input_type} backup", params.max_age(_rman_key(input_type), item, input_type),
                word="stale" if input_type == "ARCHIVELOG" else "missed")
    rows = sorted(rows, key=lambda r: r.get("start_time") or datetime.min, reverse=True)
    good = [r for r in rows if r.get("status") in ("COMPLETED", "COMPLETED WITH WARNINGS")]
    extra = _rman_findings(label, input_type, rows, good)
    details = {**base, "input_type": input_type, "jobs_in_window": len(rows),
               "running": [r.get("start_time") for r in rows if str(r.get("status", "")).startswith("RUNNING")]}
    seen = None
    if good:
        g = good[0]
        seen = Seen(g.get("end_time"), _num(g.get("age_s")) or 0.0, size=_num(g.get("output_bytes")),
                    location=g.get("output_device_type") or "",
                    evidence={"status": g.get("status"),
                              "session_key": g.get("session_key"), "started": g.get("start_time"),
                              "input_bytes": _num(g.get("input_bytes"))})
    if seen is None and not extra:
        r = judge_backup(item, label, rule, None, details=details)
        return Result(check=NAME, item=item, status=Status.CRITICAL, standard=rule.standard,
                      summary=f"{label}: {input_type} never backed up: no completed job in the last "
                              f"{format_seconds(params.rman_lookback)} (V$RMAN_BACKUP_JOB_DETAILS)",
                      metrics=r.metrics, details=r.details)
    return judge_backup(item, label, rule, seen, earlier_sizes=[_num(r.get("output_bytes")) for r in good[1:9]],
                        min_size_ratio=params.min_size_ratio, details=details, extra=extra)


def _judge_level0(sets: list[dict[str, Any]], incremental_jobs: bool, base: Mapping[str, Any],
                  params: DbBackupParams) -> Result | None:
    """An incremental strategy's base: the newest level 0 set against ``full_max_age`` (item
    ``rman/level 0``); the daily level 1s alone would keep ``rman/DB INCR`` green."""
    levels = [s for s in sets if s.get("incremental_level") is not None]
    item = "rman/level 0"
    if not (levels or incremental_jobs) or not params.wanted(item):
        return None
    rule = Rule("level 0 backup", params.max_age("full_max_age", item, "level 0"))
    level0 = sorted((s for s in levels if _num(s["incremental_level"]) == 0), key=_age_or_inf)
    seen = None
    if level0:
        s = level0[0]
        seen = Seen(s.get("last_completion"), _num(s.get("age_s")) or 0.0,
                    evidence={"kind": "level 0 backup set", "source": "V$BACKUP_SET", "sets": s.get("sets")})
    r = judge_backup(item, "RMAN", rule, seen, details={**base, "source": "V$BACKUP_SET"})
    if seen is not None:
        return r
    return Result(check=NAME, item=item, status=r.status, standard=r.standard, metrics=r.metrics,
                  summary=f"{r.summary}; V$BACKUP_SET keeps no level 0 set (the control file keeps backup "
                          f"records for CONTROL_FILE_RECORD_KEEP_TIME days)", details=r.details)


def _judge_archiving(db: Mapping[str, Any], dests: list[dict[str, Any]]) -> Result:
    """Item ``archive``: the database archives its redo (ARCHIVELOG) and every destination takes it."""
    item, label = "archive", "Archived redo"
    standard = "ARCHIVELOG mode, every archive destination VALID"
    log_mode = str(db.get("log_mode") or "?").upper()
    findings: list[tuple[Status, str, str]] = []
    if log_mode != "ARCHIVELOG":
        findings.append((Status.CRITICAL, "noarchivelog",
                         f"the database runs in {log_mode} mode: no online backup and no point-in-time "
                         f"recovery (switch to ARCHIVELOG, or set archiving: false and judge the dumps with "
                         f"backup_files)"))
    for d in dests:
        status = str(d.get("status") or "?").upper()
        where = f"{d.get('dest_name')} ({d.get('destination') or d.get('type') or '?'})"
        if status in _DEST_FAILED:
            findings.append((Status.CRITICAL, "destination failed",
                             f"{where} is {status}: {_short(d.get('error'), 200) or 'no error text'}"))
        elif status in _DEST_HELD:
            findings.append((Status.WARNING, "destination deferred",
                             f"{where} is DEFERRED by hand: redo is not archived there"))
    details = _jsonable({"database": db.get("name"), "log_mode": log_mode,
                         "destinations": [{k: d.get(k) for k in ("dest_id", "dest_name", "status", "type",
                                                                   "destination", "error")} for d in dests],
                         "verdict": [f[1] for f in findings] or ["ok"]})
    if findings:
        findings.sort(key=lambda f: 0 if f[0] is Status.CRITICAL else 1)
        return Result(check=NAME, item=item, status=Status.worst(f[0] for f in findings), standard=standard,
                      summary=f"{label}: " + "; ".join(f[2] for f in findings)[:980], details=details)
    valid = ", ".join(f"{d.get('dest_name')} ({d.get('destination') or d.get('type')})" for d in dests)
    summary = f"{label}: ARCHIVELOG mode; {len(dests)} destination(s) VALID: {valid or 'none listed'}"
    return Result(check=NAME, item=item, status=Status.OK, standard=standard, summary=summary[:1000],
                  details=details)


# --------------------------------------------------------------------------- MySQL / MariaDB

_MEB_GROUPS = {"FULL": "full", "PARTIAL": "full", "TTS": "full", "DIFFERENTIAL": "incremental",
               "INCREMENTAL": "incremental"}


def _mysql(params: DbBackupParams, ctx: CheckContext, q: _Query) -> list[Result]:
    [row] = q(MYSQL_HAS_HISTORY, what="information_schema.tables")
    if not int(_num(row["n"]) or 0):
        return [Result(check=NAME, item="meb", status=Status.UNKNOWN,
                       summary="mysql: no backup catalog to read: mysql.backup_history (MySQL Enterprise "
                               "Backup) does not exist or the login may not read it; for mysqldump or "
                               "mariabackup files add a backup_files check on the dump directory",
                       details={"verdict": ["no catalog"]})]
    return judge_mysql(q(MYSQL_HISTORY, what="mysql.backup_history"), params)


def _age_or_inf(row: Mapping[str, Any]) -> float:
    """``age_s`` of a row as a sort key; a missing or unreadable age sorts last."""
    age = _num(row.get("age_s"))
    return float("inf") if age is None else age


def judge_mysql(rows: list[dict[str, Any]], params: DbBackupParams) -> list[Result]:
    groups: dict[str, list[dict[str, Any]]] = {"full": [], "incremental": []}
    for r in rows:
        groups.setdefault(_MEB_GROUPS.get(str(r.get("backup_type") or "").upper(), "full"), []).append(r)
    results: list[Result] = []
    for group in ("full", "incremental"):
        item = f"meb/{group}"
        full_rule = Rule("full backup", params.max_age("full_max_age", item))
        rule = full_rule if group == "full" else Rule("full or incremental backup",
                                                      params.max_age("diff_max_age", item))
        if group == "incremental" and not groups["incremental"] and full_rule.max_age <= rule.max_age:
            continue
        label = "MySQL Enterprise Backup"
        rows_g = groups[group] if group == "full" else groups["incremental"] + groups["full"]
        rows_g = sorted(rows_g, key=_age_or_inf)
        extra: list[tuple[Status, str, str]] = []
        own = sorted(groups[group], key=lambda r: r.get("end_time") or datetime.min, reverse=True)
        if own and str(own[0].get("exit_state", "")).upper() != "SUCCESS":
            f = own[0]
            extra.append((Status.CRITICAL, "failed",
                          f"{label}: {group} backup failed: backup {f.get('backup_id')} "
                          f"({f.get('backup_type')}) ended {_when(f.get('end_time'))} with "
                          f"{f.get('exit_state')}: {_short(f.get('last_error'), 300)}"))
        good = [r for r in rows_g if str(r.get("exit_state", "")).upper() == "SUCCESS"]
        seen = None
        if good:
            g = good[0]
            seen = Seen(g.get("end_time"), _num(g.get("age_s")) or 0.0,
                        location=g.get("backup_destination") or "",
                        evidence={"kind": f"{str(g.get('backup_type')).lower()} backup",
                                  "backup_id": g.get("backup_id"), "backup_type": g.get("backup_type"),
                                  "started": g.get("start_time")})
        results.append(judge_backup(item, label, rule, seen, details={"engine": "mysql", "source":
                                                                        "mysql.backup_history"}, extra=extra))
    return results
