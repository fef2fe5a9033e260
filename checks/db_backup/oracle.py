"""Oracle: RMAN jobs and backup sets, archive log mode and archive destinations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from checks._params.db_backup import NAME, DbBackupParams, Query
from checks.context import CheckContext
from checks.db_backup.judge import (
    Rule,
    Seen,
    age_or_inf,
    as_float,
    jsonable,
    judge_backup,
    labelled,
    server_time,
    short,
)
from checks.messages import fit_summary, say
from checks.result import Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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


def run(params: DbBackupParams, ctx: CheckContext, q: Query) -> list[Result]:
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
                      labelled(label, say("db_backup.ora.running_bad", type=input_type,
                                          when=server_time(rows[0].get("start_time")), status=status))))
    finished = [r for r in rows if not str(r.get("status", "")).startswith("RUNNING")]
    if finished and finished[0].get("status") in _RMAN_FAILED:
        f = finished[0]
        text = say("db_backup.ora.failed_good", type=input_type, when=server_time(f.get("start_time")),
                   status=str(f.get("status")), good=server_time(good[0].get("end_time"))) if good else \
            say("db_backup.ora.failed", type=input_type, when=server_time(f.get("start_time")),
                status=str(f.get("status")))
        extra.append((Status.CRITICAL, "failed", labelled(label, text)))
    elif finished and finished[0].get("status") == "COMPLETED WITH WARNINGS":
        extra.append((Status.WARNING, "warnings", labelled(label, say(
            "db_backup.ora.warnings", type=input_type, when=server_time(finished[0].get("start_time"))))))
    return extra


def _judge_rman_type(input_type: str, rows: list[dict[str, Any]], base: Mapping[str, Any],
                     params: DbBackupParams) -> Result:
    item, label = f"rman/{input_type}", "RMAN"
    rule = Rule(say("db_backup.what.rman", type=input_type), params.max_age(_rman_key(input_type), item, input_type),
                word="stale" if input_type == "ARCHIVELOG" else "missed")
    rows = sorted(rows, key=lambda r: r.get("start_time") or datetime.min, reverse=True)
    good = [r for r in rows if r.get("status") in ("COMPLETED", "COMPLETED WITH WARNINGS")]
    extra = _rman_findings(label, input_type, rows, good)
    details = {**base, "input_type": input_type, "jobs_in_window": len(rows),
               "running": [r.get("start_time") for r in rows if str(r.get("status", "")).startswith("RUNNING")]}
    seen = None
    if good:
        g = good[0]
        seen = Seen(g.get("end_time"), as_float(g.get("age_s")) or 0.0, size=as_float(g.get("output_bytes")),
                    location=g.get("output_device_type") or "",
                    evidence={"status": g.get("status"),
                              "session_key": g.get("session_key"), "started": g.get("start_time"),
                              "input_bytes": as_float(g.get("input_bytes"))})
    if seen is None and not extra:
        r = judge_backup(item, label, rule, None, details=details)
        return Result(check=NAME, item=item, status=Status.CRITICAL, standard=rule.standard,
                      summary=labelled(label, say("db_backup.ora.never", type=input_type,
                                                  lookback=params.rman_lookback)),
                      metrics=r.metrics, details=r.details)
    return judge_backup(item, label, rule, seen, earlier_sizes=[as_float(r.get("output_bytes")) for r in good[1:9]],
                        min_size_ratio=params.min_size_ratio, details=details, extra=extra)


def _judge_level0(sets: list[dict[str, Any]], incremental_jobs: bool, base: Mapping[str, Any],
                  params: DbBackupParams) -> Result | None:
    """An incremental strategy's base: the newest level 0 set against ``full_max_age`` (item
    ``rman/level 0``); the daily level 1s alone would keep ``rman/DB INCR`` green."""
    levels = [s for s in sets if s.get("incremental_level") is not None]
    item = "rman/level 0"
    if not (levels or incremental_jobs) or not params.wanted(item):
        return None
    rule = Rule(say("db_backup.what.level0"), params.max_age("full_max_age", item, "level 0"))
    level0 = sorted((s for s in levels if as_float(s["incremental_level"]) == 0), key=age_or_inf)
    seen = None
    if level0:
        s = level0[0]
        seen = Seen(s.get("last_completion"), as_float(s.get("age_s")) or 0.0,
                    evidence={"kind": say("db_backup.ora.level0_kind"), "source": "V$BACKUP_SET",
                              "sets": s.get("sets")})
    r = judge_backup(item, "RMAN", rule, seen, details={**base, "source": "V$BACKUP_SET"})
    if seen is not None:
        return r
    return Result(check=NAME, item=item, status=r.status, standard=r.standard, metrics=r.metrics,
                  summary=say("db_backup.ora.no_level0", text=r.summary), details=r.details)


def _judge_archiving(db: Mapping[str, Any], dests: list[dict[str, Any]]) -> Result:
    """Item ``archive``: the database archives its redo (ARCHIVELOG) and every destination takes it."""
    item, label = "archive", say("db_backup.ora.redo_label")
    standard = say("db_backup.ora.archiving_standard")
    log_mode = str(db.get("log_mode") or "?").upper()
    findings: list[tuple[Status, str, str]] = []
    if log_mode != "ARCHIVELOG":
        findings.append((Status.CRITICAL, "noarchivelog", say("db_backup.ora.noarchivelog", mode=log_mode)))
    for d in dests:
        status = str(d.get("status") or "?").upper()
        where = f"{d.get('dest_name')} ({d.get('destination') or d.get('type') or '?'})"
        if status in _DEST_FAILED:
            error = short(d.get("error"), 200)
            findings.append((Status.CRITICAL, "destination failed",
                             say("db_backup.ora.dest_failed", where=where, status=status, error=error) if error
                             else say("db_backup.ora.dest_failed_silent", where=where, status=status)))
        elif status in _DEST_HELD:
            findings.append((Status.WARNING, "destination deferred", say("db_backup.ora.dest_deferred", where=where)))
    details = jsonable({"database": db.get("name"), "log_mode": log_mode,
                         "destinations": [{k: d.get(k) for k in ("dest_id", "dest_name", "status", "type",
                                                                   "destination", "error")} for d in dests],
                         "verdict": [f[1] for f in findings] or ["ok"]})
    if findings:
        findings.sort(key=lambda f: 0 if f[0] is Status.CRITICAL else 1)
        return Result(check=NAME, item=item, status=Status.worst(f[0] for f in findings), standard=standard,
                      summary=fit_summary(labelled(label, say("results.joined", parts=[f[2] for f in findings]))),
                      details=details)
    valid = ", ".join(f"{d.get('dest_name')} ({d.get('destination') or d.get('type')})" for d in dests)
    summary = labelled(label, say("db_backup.ora.archiving_ok", n=len(dests), valid=valid) if valid else
                       say("db_backup.ora.archiving_ok_none", n=len(dests)))
    return Result(check=NAME, item=item, status=Status.OK, standard=standard, summary=fit_summary(summary),
                  details=details)

