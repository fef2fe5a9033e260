"""A site with several hosts for the record tests, written through the store layer.

Site ``central-hospital`` (Asia/Shanghai), the day 2026-11-22 (local):

* ``his-db-01``: disk ``/`` normal (2 results), system ``cpu`` warning,
  db_backup ``HIS/full`` good at 02:00 (backup taken 01:00, 1.5 GiB) then
  abnormal at 14:00;
* ``his-app-01``: service ``MSSQLSERVER`` abnormal at 09:00, normal at 10:00
  (recovered); disk ``C:`` reported on 11-20 only (an item gap);
* ``lis-01``: certificate ``lis:443`` UNKNOWN (no data, with a remark);
* ``pacs-01``: known, last seen 11-20 (a host gap);
* tickets: T1 met/met, T2 breached/breached, T3 open and breached response,
  T4 opened the day before and resolved in the day, T5 entirely before the
  day (left out), T6 opened in the day and acknowledged after it (open as of
  the end of the day, response pending).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine

from collector.dates import credible_until
from collector.store import queries
from collector.store import tickets as ticket_store
from collector.store.db import writing

SITE = "central-hospital"
ZONE = ZoneInfo("Asia/Shanghai")
DAY = "2026-11-22"
GiB = 1024**3


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE)


def result(host: str, check: str, item: str, status: int, at: datetime, *, summary: str = "",
           standard: str = "", metrics: list[dict[str, Any]] | None = None,
           site: str = SITE) -> dict[str, Any]:
    return {"uid": uuid.uuid4().hex, "site": site, "host": host, "check": check, "item": item,
            "status": status,
            "summary": summary or f"{check} {item} status {status}", "standard": standard,
            "started_at": at.astimezone(UTC), "received_at": at.astimezone(UTC), "duration_ms": 2.0,
            "metrics": orjson.dumps(metrics or []).decode(), "details": "{}"}


def store_results(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with writing(engine) as conn:
        queries.store_new_results(conn, rows)
        queries.upsert_latest(conn, rows, credible_until=credible_until(datetime.now(UTC)))
        for r in rows:
            queries.touch_host(conn, site=r["site"], host=r["host"], seen=r["started_at"],
                               clock_offset_s=None, spool_backlog=None, agent_version="test")


def _ticket(host: str, *, opened: datetime, response_due: datetime, resolve_due: datetime,
            acked: datetime | None = None, resolved: datetime | None = None, severity: int = 2,
            summary: str = "") -> dict[str, Any]:
    state = "resolved" if resolved else "acknowledged" if acked else "open"
    return {
        "site": SITE, "host": host, "check": "manual", "item": uuid.uuid4().hex[:8], "severity": severity,
        "initial_severity": severity, "level_name": "general fault", "priority": 0, "state": state,
        "summary": summary or f"fault on {host}", "reported_via": "phone", "reported_by": "test",
        "opened_at": opened, "response_due": response_due, "resolve_due": resolve_due,
        "acknowledged_at": acked,
        "resolved_at": resolved, "closed_at": None, "occurrences": 1, "last_result_id": None,
        "last_status": None, "last_seen_at": None, "flapping": False, "response_breached": False,
        "resolve_breached": False, "reopened_count": 0, "onsite_requested_at": None, "onsite_due": None,
        "onsite_breached": False, "updated_at": opened,
    }


def fill_site(engine: Engine) -> dict[str, int]:
    """Write the site described in the module docstring; returns ticket ids by name."""
    disk = [{"name": "used_percent", "value": 41.2, "unit": "%", "warn": 80, "crit": 90},
            {"name": "free_bytes", "value": 50 * GiB, "unit": "B"}]
    rows = [
        result("his-db-01", "disk", "/", 0, local(22, 8), standard="used < 80 %", metrics=disk,
               summary="/ 41.2 % used"),
        result("his-db-01", "disk", "/", 0, local(22, 20), standard="used < 80 %", metrics=disk,
               summary="/ 41.2 % used"),
        result("his-db-01", "system", "cpu", 1, local(22, 20), standard="CPU < 80 %",
               metrics=[{"name": "cpu_percent", "value": 85.0, "unit": "%", "warn": 80, "crit": 95}],
               summary="CPU 85 % busy"),
        result("his-db-01", "db_backup", "HIS/full", 0, local(22, 2), standard="full backup < 26 h old",
               metrics=[{"name": "age_seconds", "value": 3600.0, "unit": "s", "crit": 93600},
                        {"name": "size_bytes", "value": 1.5 * GiB, "unit": "B"}],
               summary="full backup 1 h old"),
        result("his-db-01", "db_backup", "HIS/full", 2, local(22, 14), standard="full backup < 26 h old",
               metrics=[{"name": "age_seconds", "value": 97200.0, "unit": "s", "crit": 93600},
                        {"name": "size_bytes", "value": 1.5 * GiB, "unit": "B"}],
               summary="last full backup 27 h old: the backup job failed"),
        result("his-app-01", "service", "MSSQLSERVER", 2, local(22, 9), standard="running",
               summary="MSSQLSERVER stopped"),
        result("his-app-01", "service", "MSSQLSERVER", 0, local(22, 10), standard="running",
               summary="MSSQLSERVER running"),
        result("his-app-01", "disk", "C:", 0, local(20, 10), standard="used < 80 %", metrics=disk),
        result("lis-01", "certificate", "lis:443", 3, local(22, 7), standard="expires in > 30 d",
               summary="TLS handshake timed out"),
        result("pacs-01", "disk", "/", 0, local(20, 9), standard="used < 80 %", metrics=disk),
        # another site's result on the same day must not appear
        result("other-01", "disk", "/", 2, local(22, 9), site="other-site"),
    ]
    store_results(engine, rows)
    d = timedelta
    tickets = {
        "T1": _ticket("his-db-01", opened=local(22, 9), response_due=local(22, 11), resolve_due=local(22, 17),
                      acked=local(22, 10), resolved=local(22, 16), summary="HIS slow"),
        "T2": _ticket("his-app-01", opened=local(22, 3), response_due=local(22, 5), resolve_due=local(22, 11),
                      acked=local(22, 6), resolved=local(22, 13), summary="MSSQLSERVER down", severity=1),
        "T3": _ticket("lis-01", opened=local(22, 20), response_due=local(22, 22),
                      resolve_due=local(22, 20) + d(hours=8), summary="LIS certificate"),
        "T4": _ticket("his-db-01", opened=local(21, 10), response_due=local(21, 12),
                      resolve_due=local(22, 10),
                      acked=local(21, 11), resolved=local(22, 8), summary="yesterday's fault"),
        "T5": _ticket("pacs-01", opened=local(20, 10), response_due=local(20, 12), resolve_due=local(20, 18),
                      acked=local(20, 11), resolved=local(20, 12), summary="old fault"),
        "T6": _ticket("his-db-01", opened=local(22, 21), response_due=local(23, 1, 30),
                      resolve_due=local(23, 9), acked=local(23, 1), summary="late evening call"),
    }
    ids = {}
    with writing(engine) as conn:
        for name, values in tickets.items():
            values = {k: (v.astimezone(UTC) if isinstance(v, datetime) else v) for k, v in values.items()}
            ticket_id = ticket_store.insert_ticket(conn, values)
            assert ticket_id is not None
            ids[name] = ticket_id
    return ids
