"""PostgreSQL: WAL archiving (pg_stat_archiver) and pgBackRest's own status."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime

from checks._params.db_backup import NAME, DbBackupParams, Query
from checks.context import CheckContext
from checks.db_backup.judge import (
    Rule,
    Seen,
    as_bool,
    as_float,
    jsonable,
    judge_backup,
    labelled,
    problem,
    server_time,
)
from checks.messages import say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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


def wal_ordinal(walfile: str, segment_size: int) -> int:
    """Position of a WAL file in the WAL stream (timeline ignored): log × files per log + segment."""
    log_id, seg = int(walfile[8:16], 16), int(walfile[16:24], 16)
    return log_id * (0x100000000 // segment_size) + seg


def run(params: DbBackupParams, ctx: CheckContext, q: Query) -> list[Result]:
    if not params.archiving:
        return []
    [row] = q(PG_ARCHIVER, what="pg_stat_archiver")
    rule = Rule(say("db_backup.what.wal"), params.max_age("archive_max_age", "archive"), word="stale")
    evidence: dict[str, Any] = {
        "archive_mode": row["archive_mode"], "archived_count": int(row["archived_count"] or 0),
        "failed_count": int(row["failed_count"] or 0), "last_archived_wal": row["last_archived_wal"],
        "last_archived_time": row["last_archived_time"], "last_failed_wal": row["last_failed_wal"],
        "last_failed_time": row["last_failed_time"], "stats_reset": row["stats_reset"],
        "current_wal": row["current_wal"], "cluster_name": row["cluster_name"] or "",
        "server_version": row["server_version"],
    }
    failed = Metric("failed_count", float(evidence["failed_count"]), "count", min=0)
    item, label = "archive", say("db_backup.pg.wal_label")
    if str(row["archive_mode"]).lower() == "off":
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=rule.standard,
                       summary=labelled(label, say("db_backup.pg.archiving_off")),
                       metrics=(Metric("age_seconds", None, "s", crit=rule.max_age, min=0),),
                       details=jsonable({**evidence, "verdict": ["off"]}))]
    if as_bool(row["in_recovery"]) and str(row["archive_mode"]).lower() != "always":
        return [Result(check=NAME, item=item, status=Status.OK, standard=rule.standard,
                       summary=labelled(label, say("db_backup.pg.standby")),
                       details=jsonable({**evidence, "verdict": ["standby"]}))]
    pending: int | None = None
    if row["current_wal"] and row["last_archived_wal"] and row["wal_segment_size"]:
        pending = max(0, wal_ordinal(row["current_wal"], int(row["wal_segment_size"]))
                      - wal_ordinal(row["last_archived_wal"], int(row["wal_segment_size"])) - 1)
        evidence["pending_wal_files"] = pending
    age = as_float(row["archived_age_s"])
    seen = None if age is None else Seen(
        row["last_archived_time"], age, location=row["last_archived_wal"] or "",
        evidence={"kind": say("db_backup.pg.wal_kind", wal=row["last_archived_wal"])})
    extra: list[tuple[Status, str, str]] = []
    if as_bool(row["failing"]):
        since = say("db_backup.pg.last_success", when=server_time(row["last_archived_time"])) \
            if row["last_archived_time"] else say("db_backup.pg.no_success")
        extra.append((Status.CRITICAL, "failed", labelled(label, say(
            "db_backup.pg.archive_failed", wal=row["last_failed_wal"], when=server_time(row["last_failed_time"]),
            failures=evidence["failed_count"], since=since))))
    metrics_extra = [failed]
    if pending is not None:
        metrics_extra.append(Metric("pending_wal_files", float(pending), "count", min=0))
    if seen is None and not extra:
        result = Result(check=NAME, item=item, status=Status.WARNING, standard=rule.standard,
                        summary=labelled(label, say("db_backup.pg.never_archived",
                                                     since=server_time(row["stats_reset"]))),
                        metrics=(Metric("age_seconds", None, "s", crit=rule.max_age, min=0), *metrics_extra),
                        details=jsonable({**evidence, "verdict": ["never archived"]}))
        return [result]
    if seen is not None and pending == 0 and seen.age_s >= rule.max_age and not extra:
        # idle server: nothing waits, so an old last archive is no fault
        r = judge_backup(item, label, rule, seen, details=evidence)
        return [Result(check=NAME, item=item, status=Status.OK, standard=rule.standard,
                       summary=labelled(label, say("db_backup.pg.idle", when=server_time(seen.finished),
                                                    age=seen.age_s)),
                       metrics=(Metric("age_seconds", round(seen.age_s, 1), "s", crit=rule.max_age, min=0),
                                *metrics_extra),
                       details={**r.details, "verdict": ["idle"]})]
    r = judge_backup(item, label, rule, seen, details=evidence, extra=extra)
    if pending and r.status is Status.CRITICAL and "stale" in r.details.get("verdict", []):
        r = Result(check=NAME, item=item, status=r.status, standard=r.standard, metrics=r.metrics,
                   summary=say("db_backup.pg.waiting", text=r.summary, n=pending), details=r.details)
    return [Result(check=NAME, item=r.item, status=r.status, summary=r.summary, standard=r.standard,
                   metrics=(*r.metrics, *metrics_extra), details=r.details)]



PGBACKREST_CODES = {
    1: "missing stanza path", 2: "no valid backups", 3: "missing stanza data",
    4: "different across repositories", 5: "database mismatch across repositories",
    6: "requested backup not found", 99: "other",
}


def pgbackrest(params: DbBackupParams, ctx: CheckContext, run: Callable[..., Any]) -> list[Result]:
    stanza = params.pgbackrest_stanza
    item, label = f"pgbackrest/{stanza}", say("db_backup.pg.stanza_label", stanza=stanza)
    cmd = [params.pgbackrest_command, "--output=json", f"--stanza={stanza}", "info"]
    try:
        done = run(cmd, capture_output=True, text=True, timeout=params.query_timeout, check=False)
    except FileNotFoundError:
        return [problem(item, Status.UNKNOWN, labelled(label, say(
            "db_backup.pg.not_installed", command=params.pgbackrest_command)))]
    except subprocess.TimeoutExpired:
        return [problem(item, Status.UNKNOWN, labelled(label, say("db_backup.pg.info_timeout",
                                                                  timeout=params.query_timeout)))]
    if done.returncode != 0:
        err = " ".join((done.stderr or done.stdout or "").split())[:300]
        return [problem(item, Status.CRITICAL, labelled(label, say("db_backup.pg.info_failed",
                                                                   code=done.returncode, error=err)))]
    try:
        stanzas = json.loads(done.stdout)
        entry = next(s for s in stanzas if s.get("name") == stanza)
    except (ValueError, StopIteration, AttributeError, TypeError):
        return [problem(item, Status.UNKNOWN, labelled(label, say("db_backup.pg.no_json")))]
    status = entry.get("status") or {}
    code = status.get("code")
    message = status.get("message") or (PGBACKREST_CODES.get(code, "") if isinstance(code, int) else "")
    backups = [b for b in entry.get("backup") or [] if isinstance(b, dict)]
    full_rule = Rule(say("db_backup.what.full"), params.max_age("full_max_age", item))
    any_rule = Rule(say("db_backup.what.full_diff_incr"), params.max_age("diff_max_age", item))
    evidence = {"stanza": stanza, "status_code": code, "status_message": message, "backups": len(backups)}
    if code == 2 or (code == 0 and not backups):
        return [judge_backup(item, label, full_rule, None, details=evidence)]
    if code != 0:
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=any_rule.standard,
                       summary=labelled(label, say("db_backup.pg.failed", code=code, message=message)),
                       metrics=(Metric("age_seconds", None, "s", crit=any_rule.max_age, min=0),),
                       details=jsonable({**evidence, "verdict": ["failed"]}))]

    def seen(b: dict[str, Any]) -> Seen:
        stop = float(b.get("timestamp", {}).get("stop") or 0)
        finished = datetime.fromtimestamp(stop, UTC)
        size = as_float((b.get("info") or {}).get("size"))
        return Seen(finished, (ctx.now - finished).total_seconds(), size=size,
                    location=str((b.get("database") or {}).get("repo-key", "")),
                    evidence={"kind": say("db_backup.pg.backup_kind", type=str(b.get("type", "?")),
                                          label=str(b.get("label", ""))),
                              "label": b.get("label"), "backup_type": b.get("type"),
                              "finished_utc": finished.isoformat(), "error": b.get("error")})

    newest = backups[-1]
    same_type = [as_float((b.get("info") or {}).get("size"))
                 for b in backups[:-1] if b.get("type") == newest.get("type")]
    extra: list[tuple[Status, str, str]] = []
    fulls = [b for b in backups if b.get("type") == "full"]
    if not fulls:
        extra.append((Status.CRITICAL, "never backed up", labelled(label, say("db_backup.pg.no_full"))))
    elif seen(fulls[-1]).age_s >= full_rule.max_age:
        f = seen(fulls[-1])
        extra.append((Status.CRITICAL, "missed", labelled(label, say(
            "db_backup.missed", what=full_rule.what, when=server_time(f.finished), age=f.age_s,
            max_age=full_rule.max_age))))
    if newest.get("error") is True:
        extra.append((Status.WARNING, "unverified", labelled(label, say(
            "db_backup.pg.checksum_errors", backup=str(newest.get("label"))))))
    return [judge_backup(item, label, any_rule, seen(newest), earlier_sizes=same_type[-8:],
                         min_size_ratio=params.min_size_ratio, details=evidence, extra=extra)]

