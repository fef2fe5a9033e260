"""MySQL / MariaDB: MySQL Enterprise Backup's history table."""

from __future__ import annotations

from datetime import datetime

from checks._params.db_backup import NAME, DbBackupParams, Query
from checks.context import CheckContext
from checks.db_backup.judge import Rule, Seen, age_or_inf, as_float, judge_backup, labelled, server_time, short
from checks.messages import say
from checks.result import Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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


_MEB_GROUPS = {"FULL": "full", "PARTIAL": "full", "TTS": "full", "DIFFERENTIAL": "incremental",
               "INCREMENTAL": "incremental"}


def run(params: DbBackupParams, ctx: CheckContext, q: Query) -> list[Result]:
    [row] = q(MYSQL_HAS_HISTORY, what="information_schema.tables")
    if not int(as_float(row["n"]) or 0):
        return [Result(check=NAME, item="meb", status=Status.UNKNOWN,
                       summary=say("db_backup.my.no_catalog", label=say("db_backup.my.label")),
                       details={"verdict": ["no catalog"]})]
    return judge_mysql(q(MYSQL_HISTORY, what="mysql.backup_history"), params)


def judge_mysql(rows: list[dict[str, Any]], params: DbBackupParams) -> list[Result]:
    groups: dict[str, list[dict[str, Any]]] = {"full": [], "incremental": []}
    for r in rows:
        groups.setdefault(_MEB_GROUPS.get(str(r.get("backup_type") or "").upper(), "full"), []).append(r)
    results: list[Result] = []
    for group in ("full", "incremental"):
        item = f"meb/{group}"
        full_rule = Rule(say("db_backup.what.full"), params.max_age("full_max_age", item))
        rule = full_rule if group == "full" else Rule(say("db_backup.what.full_incr"),
                                                      params.max_age("diff_max_age", item))
        if group == "incremental" and not groups["incremental"] and full_rule.max_age <= rule.max_age:
            continue
        label = say("db_backup.my.label")
        rows_g = groups[group] if group == "full" else groups["incremental"] + groups["full"]
        rows_g = sorted(rows_g, key=age_or_inf)
        extra: list[tuple[Status, str, str]] = []
        own = sorted(groups[group], key=lambda r: r.get("end_time") or datetime.min, reverse=True)
        if own and str(own[0].get("exit_state", "")).upper() != "SUCCESS":
            f = own[0]
            extra.append((Status.CRITICAL, "failed", labelled(label, say(
                "db_backup.my.failed", group=f"db_backup.my.group.{group}", backup_id=str(f.get("backup_id")),
                type=str(f.get("backup_type")), when=server_time(f.get("end_time")), state=str(f.get("exit_state")),
                error=short(f.get("last_error"), 300)))))
        good = [r for r in rows_g if str(r.get("exit_state", "")).upper() == "SUCCESS"]
        seen = None
        if good:
            g = good[0]
            seen = Seen(g.get("end_time"), as_float(g.get("age_s")) or 0.0,
                        location=g.get("backup_destination") or "",
                        evidence={"kind": say("db_backup.my.kind", type=str(g.get("backup_type")).lower()),
                                  "backup_id": g.get("backup_id"), "backup_type": g.get("backup_type"),
                                  "started": g.get("start_time")})
        results.append(judge_backup(item, label, rule, seen, details={"engine": "mysql", "source":
                                                                        "mysql.backup_history"}, extra=extra))
    return results
