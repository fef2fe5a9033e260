"""SQL Server: msdb backup history, Availability Group preferences and SQL Server Agent jobs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

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
    server_time,
    short,
    unlabelled,
)
from checks.messages import fit_summary, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypedDict

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
                   hadr=as_bool(row.get("is_hadr_enabled")))

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


def run(params: DbBackupParams, ctx: CheckContext, q: Query) -> list[Result]:
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
    for row in sorted(rows, key=lambda r: as_float(r.get("mirror")) or 0):
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
        if as_bool(row.get("is_copy_only")) and not (
                params.copy_only or (group == "D" and name in ag_dbs)):
            continue
        db[group].append(row)
    for db in dbs.values():
        for group in ("D", "I", "L"):
            db[group].sort(key=lambda r: as_float(r.get("age_s")) or 0.0)
    return dbs


def _mssql_kinds(name: str, db: Mapping[str, Any], model: str,
                 params: DbBackupParams) -> list[tuple[str, Rule, list[dict[str, Any]]]]:
    full_rule = Rule(say("db_backup.what.full"), params.max_age("full_max_age", name))
    diff_rule = Rule(say("db_backup.what.full_diff"), params.max_age("diff_max_age", name))
    kinds: list[tuple[str, Rule, list[dict[str, Any]]]] = [("full", full_rule, db["D"])]
    if db["I"] or full_rule.max_age > diff_rule.max_age:
        both = sorted(db["D"][:1] + db["I"][:1], key=lambda r: as_float(r.get("age_s")) or 0.0)
        kinds.append(("diff", diff_rule, both + db["I"][1:]))
    # model is a template: FULL recovery by default, but nothing is logged in it to back up
    if model in ("FULL", "BULK_LOGGED") and name.lower() != "model":
        log_rule = Rule(say("db_backup.what.log"), params.max_age("log_max_age", name), word="stale")
        kinds.append(("log", log_rule, db["L"]))
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
                     "preferred_replica": as_bool(ag_row.get("preferred_replica"))})
        if not base["preferred_replica"] and not instance.renamed:
            return [Result(check=NAME, item=f"{name}/{kind}", status=Status.OK, standard=rule.standard,
                           summary=say("db_backup.mssql.not_preferred", name=name,
                                       group=str(ag_row.get("availability_group")), what=rule.what),
                           details=jsonable({**base, "verdict": ["not preferred replica"]}))
                    for kind, rule, _ in kinds]
        if not base["preferred_replica"]:
            extra.append((Status.WARNING, "replica preference unknown",
                          say("db_backup.mssql.renamed", name=name, server=repr(instance.server_name),
                              property=repr(instance.property_name))))
    results = []
    for kind, rule, backups in kinds:
        newest = backups[0] if backups else None
        same_type = [r for r in backups[1:] if newest and r["type"] == newest["type"]]
        result = judge_backup(
            f"{name}/{kind}", name, rule, _mssql_seen(newest) if newest else None,
            earlier_sizes=[as_float(r.get("backup_size")) for r in same_type] if kind != "log" else (),
            min_size_ratio=params.min_size_ratio,
            require_verified=params.require_checksum and kind != "log",
            created_age_s=as_float(first.get("created_age_s")), details=base, extra=extra)
        results.append(_mssql_state(result, name, first))
    return results


#: sys.databases.state_desc other than ONLINE: (status, what it means for backups)
_MSSQL_STATES = {  # what each means: db_backup.mssql.state.<state in lower case>
    "SUSPECT": Status.CRITICAL, "RECOVERY_PENDING": Status.CRITICAL, "EMERGENCY": Status.CRITICAL,
    "OFFLINE": Status.WARNING, "RESTORING": Status.WARNING, "RECOVERING": Status.WARNING,
}


def _mssql_state(result: Result, name: str, row: Mapping[str, Any]) -> Result:
    """The verdict on a database that is not ONLINE: its state first, the backup evidence after."""
    state = str(row.get("state_desc") or "ONLINE").upper()
    if state == "ONLINE":
        return result
    if state == "RESTORING" and str(row.get("mirroring_role_desc") or "").upper() == "MIRROR":
        status, meaning = Status.OK, say("db_backup.mssql.state.mirror")
    elif state in _MSSQL_STATES:
        status, meaning = _MSSQL_STATES[state], say(f"db_backup.mssql.state.{state.lower()}")
    else:
        status, meaning = Status.WARNING, say("db_backup.mssql.state.other")
    summary = say("db_backup.mssql.state", name=name, state=state, meaning=meaning,
                  text=unlabelled(result.summary, name))
    details = {**result.details, "verdict": [state.lower(), *result.details.get("verdict", [])]}
    return Result(check=NAME, item=result.item, status=status, summary=fit_summary(summary),
                  standard=result.standard, metrics=result.metrics, details=details)


def _mssql_seen(row: dict[str, Any]) -> Seen:
    return Seen(
        finished=row.get("backup_finish_date"), age_s=as_float(row.get("age_s")) or 0.0,
        size=as_float(row.get("backup_size")), location=row.get("physical_device_name") or "",
        verified=None if row.get("has_backup_checksums") is None else as_bool(row["has_backup_checksums"]),
        evidence={"kind": ("copy-only " if as_bool(row.get("is_copy_only")) else "")
                  + _MSSQL_LABEL.get(row["type"], "backup"), "backup_type": row["type"],
                  "started": row.get("backup_start_date"),
                  "compressed_size_bytes": as_float(row.get("compressed_backup_size")),
                  "copy_only": as_bool(row.get("is_copy_only")), "backup_server": row.get("server_name"),
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


if TYPE_CHECKING:  # a plain dict at run time
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
        if not as_bool(s.get("enabled")) or int(s.get("freq_type") or 0) not in _RECURRING:
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
        if as_bool(jrows[0].get("enabled")) and params.wanted(f"job/{name}"):
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
    rule = Rule(say("db_backup.what.job"), params.max_age("job_max_age", item, name))
    runs, trimmed = _job_runs(jrows, now)
    last = next((x for x in runs if int(x["row"].get("rn") or 0) == 1), runs[0] if runs else None)
    new_failures = [x for x in runs if x["status"] in _AGENT_FAILED and x["instance_id"] > last_seen
                    and (last_seen or (x["age"] is not None and x["age"] < rule.max_age))]
    details: dict[str, Any] = {
        "job": name, "scheduled": due,
        "schedules": [{"name": s.get("schedule_name"), "enabled": as_bool(s.get("enabled")),
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
            status, summary = Status.CRITICAL, labelled(label, say("db_backup.job.never_ran"))
        else:
            summary = labelled(label, say("db_backup.job.not_expected"))
    else:
        took = last["duration"]
        metrics.append(Metric("duration_seconds", float(took), "s", min=0))
        details.update({"last_run": last["at"], "last_outcome": _AGENT_STATUS.get(last["status"], "?"),
                        "duration_seconds": took, "server": last["row"].get("server"),
                        "message": short(last["message"])})
        when = server_time(last["at"])
        if last["status"] in _AGENT_FAILED:
            status = Status.CRITICAL
            details["verdict"] = ["failed"]
            summary = labelled(label, say("db_backup.job.failed" if last["status"] == 0 else "db_backup.job.canceled",
                                           when=when, took=_hms(took), message=short(last["message"], 300)))
        elif new_failures:
            f = new_failures[0]
            status = Status.WARNING
            details["verdict"] = ["failed"]
            summary = labelled(label, say("db_backup.job.failed_then", when=server_time(f["at"]),
                                           message=short(f["message"], 200), outcome=_outcome(last["status"]),
                                           last=when))
        elif due and last["age"] is not None and last["age"] >= rule.max_age:
            status = Status.CRITICAL
            details["verdict"] = ["missed"]
            summary = labelled(label, say("db_backup.job.missed", when=when, age=last["age"],
                                           max_age=rule.max_age))
        else:
            details["verdict"] = ["ok"]
            summary = labelled(label, say("db_backup.job.last_run", outcome=_outcome(last["status"]), when=when,
                                           took=_hms(took)) if last["age"] is None else
                                say("db_backup.job.last_run_ago", outcome=_outcome(last["status"]), when=when,
                                    age=last["age"], took=_hms(took)))
        if new_failures:
            details["failures_since_last_check"] = [
                {"at": x["at"], "outcome": _AGENT_STATUS[x["status"]], "message": short(x["message"])}
                for x in new_failures[:10]]
    return Result(check=NAME, item=item[:255], status=status, summary=fit_summary(summary),
                  standard=rule.standard, metrics=tuple(metrics), details=jsonable(details))


def _outcome(status: int) -> str:
    """The key of a job outcome's word (db_backup.job.outcome.<n>)."""
    return f"db_backup.job.outcome.{status if status in _AGENT_STATUS else 5}"



def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


