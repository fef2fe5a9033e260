"""Hygiene check and restore drill results of a site, for the record tests, through the store layer.

The metrics and details are the shapes the real checks report (checks/patches.py, antivirus.py,
accounts.py, db_accounts.py, restore_drill.py; tests/checks exercises them on this machine).
Site ``central-hospital`` (Asia/Shanghai); the patrol day is 2026-11-22 (local):

* ``his-db-01`` (Debian, PostgreSQL): 3 security updates pending for 40 days since first seen
  (apt), 11 pending in all, the last update 5 days ago, a reboot pending for 35 days; ClamAV
  signatures 4 days old; ``olduser`` with an empty password, two passwords that never
  expire; pg_hba.conf line 95 trusts the network; every login role has a password;
  restore drill of ``his``: failed on 09-06, good on 10-04 (95 s, 7.5 GB restored),
  failed on the day (11-22 03:00).
* ``win-his-01`` (Windows, SQL Server): Defender on, signatures 6 hours old; the Guest account
  enabled; ``sa`` enabled; restore drill of ``HIS``: good on 09-10 (25 min) only, failed 11-22 04:00.
* ``lis-01``: no antivirus found (UNKNOWN).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from tests.collector.records_data import ZONE, result, store_results

DAY = 86400.0
PG_DRILL = "/backup/pg/his_*.dump"
MS_DRILL = "D:\\Backup/HIS_*.bak"


def at(month: int, day: int, hour: int = 7, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


def _m(name: str, value: float | None, unit: str, warn: float | None = None) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "warn": warn, "crit": None}


def _with(row: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    row["details"] = orjson.dumps(details).decode()
    return row


def drill(host: str, item: str, status: int, when: datetime, database: str, *, took: float = 95.0,
          size: float | None = 7.5e9) -> dict[str, Any]:
    metrics = [_m("duration_seconds", took, "s"), _m("backup_size_bytes", 2.1e9, "B"),
               _m("backup_age_seconds", 3600.0, "s")]
    if status == 0:
        metrics += [_m("restore_seconds", took - 10, "s"), _m("restored_size_bytes", size, "B")]
    details = {"engine": "postgresql", "source_database": database, "dropped": True,
               "probe": {"outcome": "row" if status == 0 else "failed"}}
    return _with(result(host, "restore_drill", item, status, when, standard="the newest backup restores",
                        summary=f"drill status {status}", metrics=metrics), details)


def drills() -> list[dict[str, Any]]:
    """The drill results of the module docstring, oldest first."""
    return [
        drill("his-db-01", PG_DRILL, 2, at(9, 6, 3), "his"),
        drill("win-his-01", MS_DRILL, 0, at(9, 10, 4), "HIS", took=1500.0, size=3.2e10),
        drill("his-db-01", PG_DRILL, 0, at(10, 4, 3), "his"),
        drill("his-db-01", PG_DRILL, 2, at(11, 22, 3), "his"),
        drill("win-his-01", MS_DRILL, 2, at(11, 22, 4), "HIS"),
    ]


def hygiene() -> list[dict[str, Any]]:
    """The hygiene results of the day 2026-11-22."""
    when = at(11, 22, 7, 30)
    return [
        _with(result("his-db-01", "patches", "security", 1, when, metrics=[
            _m("pending_security", 3, "count"), _m("pending_updates", 11, "count"),
            _m("oldest_security_age_seconds", 40 * DAY, "s", warn=30 * DAY),
            _m("lists_age_seconds", 3600.0, "s", warn=7 * DAY)]),
            {"manager": "apt", "pending_security": 3, "age_note": "apt keeps no publication dates: ...",
             "security_updates": [{"name": "openssl", "since_is": "first seen by this check"}]}),
        _with(result("his-db-01", "patches", "last_update", 0, when,
                     metrics=[_m("since_update_seconds", 5 * DAY, "s", warn=90 * DAY)]),
              {"manager": "apt", "last_update": "2026-11-17T02:00:00.000000Z", "what": "upgrade tzdata"}),
        _with(result("his-db-01", "patches", "reboot", 1, when,
                     metrics=[_m("reboot_pending_seconds", 35 * DAY, "s", warn=30 * DAY)]),
              {"manager": "apt", "reboot_pending": True}),
        _with(result("his-db-01", "antivirus", "clamav", 1, when,
                     metrics=[_m("signature_age_seconds", 4 * DAY, "s", warn=3 * DAY)]),
              {"product": "ClamAV", "clamd_running": True}),
        _with(result("his-db-01", "accounts", "empty_password", 2, when,
                     metrics=[_m("accounts", 1, "count"), _m("login_accounts", 4, "count")]),
              {"accounts": ["olduser"]}),
        _with(result("his-db-01", "accounts", "administrators", 0, when, metrics=[_m("accounts", 0, "count")]),
              {"accounts": []}),
        _with(result("his-db-01", "accounts", "password_never_expires", 1, when,
                     metrics=[_m("accounts", 2, "count")]), {"accounts": ["backup", "hisapp"]}),
        _with(result("his-db-01", "db_accounts", "postgresql/trust", 2, when, metrics=[_m("accounts", 1, "count")]),
              {"engine": "postgresql", "trust_lines": [{"line": 95, "type": "host", "address": "0.0.0.0"}],
               "accounts": ["line 95: host all all 0.0.0.0 trust"]}),
        _with(result("his-db-01", "db_accounts", "postgresql/no_password", 0, when,
                     metrics=[_m("accounts", 0, "count")]), {"engine": "postgresql", "accounts": []}),
        _with(result("win-his-01", "antivirus", "defender", 0, when, metrics=[
            _m("signature_age_seconds", 6 * 3600.0, "s", warn=3 * DAY), _m("realtime", 1.0, "")]),
            {"product": "Microsoft Defender", "realtime": True}),
        _with(result("win-his-01", "accounts", "guest", 2, when, metrics=[_m("accounts", 1, "count")]),
              {"accounts": ["Guest"]}),
        _with(result("win-his-01", "db_accounts", "sqlserver/sa", 1, when, metrics=[_m("accounts", 1, "count")]),
              {"engine": "sqlserver", "accounts": ["sa"]}),
        _with(result("lis-01", "antivirus", "", 3, when), {}),
    ]


def fill_hygiene(engine: Engine) -> None:
    store_results(engine, drills() + hygiene())
