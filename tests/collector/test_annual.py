"""The annual service report: golden content over a synthetic year put through the store layer.

One year (2025, Asia/Shanghai) of a site with two servers, written with the
store functions the collector itself uses and rolled up by the roll-up job's
function (the report reads roll-ups; the last test prunes the year's raw results
and issues it again): ``db-01`` reports every 10
minutes all year except a 48-hour outage in March; ``app-01`` joins on
1 July and falls silent on 30 December.  Backups, off-site copies, disks,
a certificate, tickets at three levels, issued records and archive entries
(one corrected) are chosen so every figure below can be worked out by hand.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy import func, insert, select

from collector.archive import Archive
from collector.records.kinds import builder
from collector.records.model import canonical
from collector.retention import Retention, prune
from collector.store import queries, rollups
from collector.store import tickets as ticket_store
from collector.store.db import make_engine, reading, writing
from collector.store.tables import records, results
from tests.collector.conftest import TEMPLATE_DB

SITE = "central-hospital"
ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 1, 1, tzinfo=ZONE)
END = datetime(2026, 1, 1, tzinfo=ZONE)
_uid = iter(range(10**9))


def _local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZONE)


def _row(host: str, check: str, item: str, status: int, at: datetime, metrics: list[dict[str, Any]] = ()
         ) -> dict[str, Any]:
    return {"uid": f"{next(_uid):032x}", "site": SITE, "host": host, "check": check, "item": item,
            "status": status, "summary": "s", "standard": "", "started_at": at.astimezone(UTC),
            "received_at": at.astimezone(UTC), "duration_ms": 1.0, "metrics": json.dumps(list(metrics)),
            "details": "{}"}


def _every_10_min(host: str, start: datetime, end: datetime, skip: tuple[datetime, datetime] | None,
                  bad: set[datetime]) -> list[dict[str, Any]]:
    out, at = [], start.astimezone(UTC)
    while at < end:
        if skip is None or not skip[0] < at < skip[1]:
            out.append(_row(host, "system", "cpu", 2 if at in bad else 0, at))
        at += timedelta(minutes=10)
    return out


def _daily(host: str, check: str, item: str, bad_days: set[date], hour: int) -> list[dict[str, Any]]:
    return [_row(host, check, item, 2 if day in bad_days else 0, _local(day.year, day.month, day.day, hour))
            for day in (date(2025, 1, 1) + timedelta(days=i) for i in range(365))]


BACKUP_BAD = {date(2025, 2, d) for d in range(1, 21, 2)}  # 10 days, not consecutive
RESCUED = {date(2025, 2, 1), date(2025, 2, 3)}  # a good retry later the same day
OFFSITE_BAD = {date(2025, 5, 1) + timedelta(days=3 * i) for i in range(20)}
CPU_BAD = {_local(2025, 8, d, 8).astimezone(UTC) for d in (1, 5, 9, 13, 17)}


def _ticket(tid_host: str, check: str, item: str, severity: int, opened: datetime, *, ack: datetime | None,
            resolved: datetime | None, response_due: datetime, resolve_due: datetime,
            response_breached: bool = False, level: str = "") -> dict[str, Any]:
    state = "resolved" if resolved else ("acknowledged" if ack else "open")
    return {"site": SITE, "host": tid_host, "check": check, "item": item, "severity": severity,
            "initial_severity": severity, "level_name": level or f"L{severity}", "priority": 0,
            "state": state,
            "summary": f"{check} {item}", "reported_via": "monitoring", "reported_by": "system",
            "opened_at": opened, "response_due": response_due, "resolve_due": resolve_due,
            "acknowledged_at": ack, "resolved_at": resolved, "closed_at": None, "occurrences": 1,
            "last_result_id": None, "last_status": 2, "last_seen_at": opened, "flapping": False,
            "response_breached": response_breached, "resolve_breached": False, "reopened_count": 0,
            "onsite_requested_at": None, "onsite_due": None, "onsite_breached": False, "updated_at": opened}


def _record(kind: str, day: date, n: int = 0) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=ZONE)
    return {"site": SITE, "kind": kind, "period_start": start, "period_end": start + timedelta(days=1),
            "period_from": day.isoformat(), "period_to": day.isoformat(), "language": "en",
            "origin": "manual",
            "issued_by": f"t{n}", "issued_at": start, "content": "{}", "digest": "0" * 64}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def year_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A migrated database of each kind holding the year, shared by this module's tests (built once)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("annual") / "wardround.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield _fill(engine)
        engine.dispose()
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_db(template=TEMPLATE_DB)
    engine = make_engine(cluster.url(name))
    yield _fill(engine)
    engine.dispose()
    cluster.drop_db(name)


@pytest.fixture(scope="module")
def year(year_engine: Any) -> dict[str, dict[str, Any]]:
    """The report of the year in both languages."""
    return {lang: _build(year_engine, lang) for lang in ("en", "zh_CN")}


def _fill(engine: Any) -> Any:
    outage = (_local(2025, 3, 10).astimezone(UTC), _local(2025, 3, 12).astimezone(UTC))
    rows = _every_10_min("db-01", START, END, outage, CPU_BAD)
    rows += _every_10_min("app-01", _local(2025, 7, 1), _local(2025, 12, 30, 0, 1), None, set())
    rows += _daily("db-01", "db_backup", "HIS/full", BACKUP_BAD, 2)
    rows += [_row("db-01", "db_backup", "HIS/full", 0, _local(d.year, d.month, d.day, 9)) for d in RESCUED]
    rows += _daily("db-01", "offsite_copy", "nas", OFFSITE_BAD, 4)
    for month in range(1, 13):
        at = _local(2025, month, 28, 12)
        d_metrics = [{"name": "used_percent", "value": 60 + 2 * month},
                     {"name": "days_to_full", "value": 45 + (12 - month)}]
        rows.append(_row("db-01", "disk", "D:", 0, at, d_metrics))
        rows.append(_row("db-01", "disk", "C:", 0, at, [{"name": "used_percent", "value": 30},
                                                        {"name": "days_to_full", "value": 400}]))
    rows.append(_row("app-01", "certificate", "his.example:443", 1, _local(2025, 12, 1),
                     [{"name": "days_left", "value": 20.4}]))
    rows.append(_row("db-01", "system", "cpu", 2, _local(2026, 1, 2)))  # after the period: not counted
    # db-01 delivers nothing at all during the outage (no backup checks either: those days have no good one)
    rows = [r for r in rows if not (r["host"] == "db-01" and outage[0] < r["started_at"] < outage[1])]
    with writing(engine) as conn:
        for i in range(0, len(rows), 5000):
            queries.store_new_results(conn, rows[i:i + 5000])
        for host, first in (("db-01", START), ("app-01", _local(2025, 7, 1))):
            queries.touch_host(conn, site=SITE, host=host, seen=first, clock_offset_s=None,
                               spool_backlog=None, agent_version=None)
        h = timedelta(hours=1)
        t1 = _local(2025, 2, 1, 3)
        ticket_store.insert_ticket(conn, _ticket("db-01", "db_backup", "HIS/full", 1, t1, ack=t1 + h,
                                                 resolved=t1 + 3 * h, response_due=t1 + 2 * h,
                                                 resolve_due=t1 + 8 * h, level="system down"))
        t2 = _local(2025, 5, 1, 5)
        ticket_store.insert_ticket(conn, _ticket("db-01", "offsite_copy", "nas", 2, t2, ack=t2 + 5 * h,
                                                 resolved=t2 + 6 * h, response_due=t2 + 2 * h,
                                                 resolve_due=t2 + 18 * h, response_breached=True))
        t3 = _local(2025, 8, 1, 9)
        ticket_store.insert_ticket(conn, _ticket("db-01", "system", "cpu", 2, t3, ack=t3 + h,
                                                 resolved=t3 + 30 * h, response_due=t3 + 2 * h,
                                                 resolve_due=t3 + 18 * h))
        t4 = _local(2025, 12, 31, 20)
        ticket_store.insert_ticket(conn, _ticket("app-01", "agent", "silent", 3, t4, ack=None, resolved=None,
                                                 response_due=t4 + 9 * h, resolve_due=t4 + 27 * h))
        t0 = _local(2024, 12, 31, 9)
        ticket_store.insert_ticket(conn, _ticket("db-01", "disk", "D:", 3, t0, ack=None, resolved=None,
                                                 response_due=t0 + h, resolve_due=t0 + 2 * h))
        for i in range(300):
            conn.execute(insert(records).values(**_record("daily", date(2025, 1, 1) + timedelta(days=i))))
        conn.execute(insert(records).values(**_record("daily", date(2025, 1, 1), n=1)))  # the same day again
        for i in range(50):
            conn.execute(insert(records).values(**_record("weekly", date(2025, 1, 6) + timedelta(weeks=i))))
        for m in range(1, 13):
            conn.execute(insert(records).values(**_record("monthly", date(2025, m, 1))))
        for m in (3, 9):
            conn.execute(insert(records).values(**_record("quarterly", date(2025, m, 20))))
    archive = Archive(engine, clock=lambda: datetime(2026, 1, 5, tzinfo=UTC))
    first = archive.add({"site": SITE, "kind": "visit", "at": "2025-04-15T10:00", "host": "db-01",
                         "phenomenon": "quarterly inspection", "action": "checked RAID", "signer": "Wang"},
                        engineer="erin")
    archive.add({"site": SITE, "kind": "visit", "at": "2025-04-15T10:00", "host": "db-01",
                 "corrects": first["id"], "phenomenon": "quarterly inspection",
                 "action": "checked RAID, replaced a fan",
                 "parts": "fan", "signer": "Wang"}, engineer="erin")
    archive.add({"site": SITE, "kind": "upgrade", "at": "2025-06-01T21:00", "phenomenon": "HIS release",
                 "action": "upgraded", "version": "HIS 5.3.1", "signer": "Li"}, engineer="erin")
    archive.add({"site": SITE, "kind": "visit", "at": "2025-10-20T09:00", "phenomenon": "on-site check",
                 "action": "inspected the server room", "signer": "Wang"}, engineer="sam")
    archive.add({"site": SITE, "kind": "visit", "at": "2024-12-20T09:00", "phenomenon": "last year",
                 "action": "x"}, engineer="sam")
    rollups.refresh(engine, lambda site: ZONE, before=END)  # the report reads roll-ups
    return engine


def _build(engine: Any, lang: str = "en") -> dict[str, Any]:
    with reading(engine) as conn:
        content = builder("annual")(conn, site=SITE, period_start=START, period_end=END, lang=lang,
                                    inspector="Zhang Wei")
    doc = content.to_json()
    orjson.loads(canonical(doc))  # storable as it is
    return doc


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in doc["sections"] if s["key"] == key)


def test_annual_report_figures_match_the_year_when_built(year):
    doc = year["en"]
    h = doc["header"]
    assert (h["kind"], h["period_from"], h["period_to"], h["hosts"]) == ("annual", "2025-01-01", "2025-12-31",
                                                                         ["app-01", "db-01"])
    assert [s["key"] for s in doc["sections"]] == ["patrols", "tickets", "breaches", "followups", "backups",
                                                   "drills", "hygiene", "availability", "recurring", "capacity",
                                                   "recommendations", "archive"]
    assert _section(doc, "patrols")["rows"] == [
        ["Daily patrol records", 365, 300, "82.2 %"],
        ["Weekly patrol records", 52, 50, "96.2 %"],
        ["Monthly patrol records", 12, 12, "100.0 %"],
        ["On-site inspections (2 quarterly records, 2 visits)", 4, 4, "100.0 %"],
    ]
    assert _section(doc, "tickets")["rows"] == [
        ["1 · system down", 1, 1, 0, 0, "100.0 %", 1, 0, 0, "100.0 %"],
        ["2 · L2", 2, 1, 1, 0, "50.0 %", 1, 1, 0, "50.0 %"],
        ["3 · L3", 1, 0, 0, 1, "—", 0, 0, 1, "—"],
        ["All levels", 4, 2, 1, 1, "66.7 %", 2, 1, 1, "66.7 %"],
    ]
    assert [(r[0], r[2], r[6]) for r in _section(doc, "breaches")["rows"]] == [
        (2, "db-01", "response"), (3, "db-01", "resolution")]
    assert [t["id"] for t in doc["tickets"]] == [1, 2, 3, 4]
    assert _section(doc, "backups")["rows"] == [
        ["db-01", "Database backup HIS/full", 355, 365, "97.3 %"],
        ["db-01", "Off-site copy nas", 343, 365, "94.0 %"],
    ]


def test_availability_counts_silences_from_each_hosts_first_result_when_built(year):
    rows = _section(year["en"], "availability")["rows"]
    # db-01: one 48 h gap (47.75 h beyond the 15-minute allowance) in 8760 h; 5 of 52273 cpu results bad.
    # app-01: from 1 July (4416 h), silent for the last 48 h (47.75 h beyond the allowance).
    assert rows == [["app-01", "98.92 %", "47.8", "48.0", "100.0 %"],
                    ["db-01", "99.45 %", "47.8", "48.0", "100.0 %"]]


def test_recurring_capacity_recommendations_and_archive_when_built(year):
    doc = year["en"]
    assert _section(doc, "recurring")["rows"] == [
        ["db-01", "Off-site copy nas", 20, 20, 1],
        ["db-01", "Database backup HIS/full", 10, 10, 1],
        ["db-01", "CPU / memory cpu", 5, 5, 1],
        ["app-01", "Certificate his.example:443", 1, 1, 0],
    ]
    assert _section(doc, "capacity")["rows"] == [["db-01", "C:", 30.0, 400, "2025-12-28"],
                                                 ["db-01", "D:", 84.0, 45, "2025-12-28"]]
    recs = [r[1] for r in _section(doc, "recommendations")["rows"]]
    assert recs == [
        "Certificate his.example:443 on app-01 expires in 20 days: renew it.",
        "Disk D: on db-01 is forecast to fill within 45 days: free space or extend it.",
        "app-01 was silent at the end of the period (last result 2025-12-30 00:00): "
        "restore its agent or retire it.",
        "db-01 Off-site copy nas: a good backup on only 94.0 % of the days: review the backup job.",
        # the built-in policy promises a restore drill every quarter, and this site ran none
        "No restore drill ran in the period although the site's policy promises one every quarter: "
        "set up the restore_drill check.",
        "2 ticket(s) missed an SLA deadline: review staffing and escalation with the customer.",
        # the three acknowledged (handled) tickets resolved in the year were never followed up
        "3 resolved ticket(s) were not followed up in time: call the customers back.",
    ]
    archive = _section(doc, "archive")["rows"]
    assert [(r[1], r[2], r[6], r[7], r[9]) for r in archive] == [
        ("2025-04-15 10:00", "On-site visit", "fan", "", "erin"),
        ("2025-06-01 21:00", "Upgrade", "", "HIS 5.3.1", "erin"),
        ("2025-10-20 09:00", "On-site visit", "", "", "sam"),
    ]


def test_annual_report_is_in_chinese_when_the_site_language_is_zh_cn(year):
    doc = year["zh_CN"]
    assert _section(doc, "patrols")["title"] == "巡检承诺与完成情况"
    assert _section(doc, "patrols")["rows"][0][0] == "日巡检记录"
    assert _section(doc, "archive")["rows"][1][2] == "版本升级"
    assert any("将在 20 天后到期" in r[1] for r in _section(doc, "recommendations")["rows"])


def test_annual_report_says_the_same_after_the_raw_results_of_its_year_are_pruned(year_engine, year):
    """Issue 17 item 4: availability, recurring anomalies, backups by day, tickets and SLA — every section."""
    report = prune(year_engine, Retention(), datetime(2026, 6, 1, tzinfo=UTC))  # 100 days: all of 2025 goes
    assert report.results > 70_000
    with reading(year_engine) as conn:
        assert conn.execute(select(func.count()).select_from(results).where(
            results.c.started_at < END.astimezone(UTC))).scalar_one() == 0
    for lang in ("en", "zh_CN"):
        assert _build(year_engine, lang) == year[lang]
