"""Issuing a patrol record: golden content on a real site (SQLite and PostgreSQL), integrity, signing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from collector.policy import default_policies
from collector.records import render
from collector.records.service import RecordInvalid, RecordNotFound, Records
from collector.store.records import RecordFilter
from tests.collector.path_results import BALANCED, MOVED, OUTSIDE, store_rows, traceroute_results
from tests.collector.records_data import DAY, SITE, ZONE, fill_site, local, store_results

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZONE)


@pytest.fixture
def site(engine: Any) -> dict[str, int]:
    return fill_site(engine)


@pytest.fixture
def records(engine: Any) -> Records:
    return Records(engine, default_policies(), clock=lambda: NOW.astimezone(UTC))


def _row(content: dict[str, Any], host: str, check: str, item: str) -> dict[str, Any]:
    matches = [r for r in content["rows"] if (r["host"], r["check"], r["item"]) == (host, check, item)]
    assert len(matches) == 1, (host, check, item)
    return matches[0]


def test_daily_record_states_each_item_gaps_anomalies_tickets_and_backups_when_issued(
        engine: Any, site: dict[str, int], records: Records) -> None:
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, language="en", actor="engineer-li")
    c = rec.content
    h = c["header"]
    assert (h["site"], h["customer"], h["kind"], h["period_from"], h["period_to"]) == (
        SITE, SITE, "daily", DAY, DAY)
    assert h["period_start"] == "2026-11-21T16:00:00.000000Z"
    assert h["period_end"] == "2026-11-22T16:00:00.000000Z"
    assert h["timezone"] == "Asia/Shanghai" and h["language"] == "en" and h["origin"] == "manual"
    assert h["inspector"] == "engineer-li" and h["generated_at"] == "2026-11-23T00:00:00.000000Z"
    assert h["hosts"] == ["his-app-01", "his-db-01", "lis-01", "pacs-01"]
    assert h["counts"] == {"normal": 2, "warning": 1, "abnormal": 1, "no_data": 3}

    disk = _row(c, "his-db-01", "disk", "/")
    assert disk == {"host": "his-db-01", "check": "disk", "item": "/", "label": "Disk space /",
                    "standard": "used < 80 %", "value": 41.2, "unit": "%", "measured": "41.2 %",
                    "verdict": "normal", "remark": "", "summary": "/ 41.2 % used",
                    "at": "2026-11-22T12:00:00.000000Z", "results": 2, "bad": 0, "worst": "normal"}
    cpu = _row(c, "his-db-01", "system", "cpu")
    assert (cpu["verdict"], cpu["measured"], cpu["remark"]) == ("warning", "85 %", "CPU 85 % busy")
    backup = _row(c, "his-db-01", "db_backup", "HIS/full")
    assert (backup["verdict"], backup["worst"], backup["results"], backup["bad"]) == (
        "abnormal", "abnormal", 2, 1)
    assert backup["measured"] == "27 h"  # age_seconds: the metric with a threshold
    svc = _row(c, "his-app-01", "service", "MSSQLSERVER")
    assert (svc["verdict"], svc["worst"], svc["remark"]) == ("normal", "abnormal",
                                                             "recovered; 1 bad result(s) in the period")
    cert = _row(c, "lis-01", "certificate", "lis:443")
    assert (cert["verdict"], cert["remark"]) == ("no_data", "could not be judged: TLS handshake timed out")
    assert not any(r["host"] == "other-01" for r in c["rows"])

    gaps = {(g["host"], g["check"], g["item"]): g for g in c["gaps"]}
    assert set(gaps) == {("pacs-01", None, None), ("his-app-01", "disk", "C:")}
    assert gaps[("pacs-01", None, None)]["last_seen"] == "2026-11-20T01:00:00.000000Z"
    assert gaps[("his-app-01", "disk", "C:")]["remark"] == (
        "no result in the period (last result 2026-11-20 10:00)")
    assert _row(c, "his-app-01", "disk", "C:")["verdict"] == "no_data"
    assert _row(c, "pacs-01", "", "")["verdict"] == "no_data"

    anomalies = {(a["host"], a["check"], a["item"]): a for a in c["anomalies"]}
    assert set(anomalies) == {("his-db-01", "system", "cpu"), ("his-db-01", "db_backup", "HIS/full"),
                              ("his-app-01", "service", "MSSQLSERVER"), ("lis-01", "certificate", "lis:443")}
    assert anomalies[("his-app-01", "service", "MSSQLSERVER")]["recovered"] is True
    assert anomalies[("his-db-01", "db_backup", "HIS/full")]["suggestion"].startswith("Check the backup job")

    t = {k["id"]: k for k in c["tickets"]}
    assert set(t) == {site["T1"], site["T2"], site["T3"], site["T4"], site["T6"]}
    assert (t[site["T1"]]["response"], t[site["T1"]]["resolution"], t[site["T1"]]["state"]) == (
        "met", "met", "resolved")
    assert (t[site["T2"]]["response"], t[site["T2"]]["resolution"]) == ("breached", "breached")
    assert (t[site["T3"]]["response"], t[site["T3"]]["resolution"], t[site["T3"]]["state"]) == (
        "breached", "pending", "open")
    assert t[site["T4"]]["events"] == ["resolved"] and t[site["T4"]]["resolution"] == "met"
    assert t[site["T6"]]["state"] == "open" and t[site["T6"]]["acknowledged_at"] is None
    assert t[site["T6"]]["response"] == "pending" and t[site["T6"]]["events"] == ["opened"]

    [ev] = c["backup_evidence"]
    assert (ev["host"], ev["item"], ev["verdict"]) == ("his-db-01", "HIS/full", "abnormal")
    assert ev["last_good_at"] == local(22, 1).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert ev["size_bytes"] == 1.5 * 1024**3 and ev["size"] == "1.5 GiB"
    assert ev["remark"] == "last full backup 27 h old: the backup job failed"
    assert rec.verified and len(rec.digest) == 64


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_daily_record_lists_each_traced_path_with_every_router_of_a_balanced_hop_when_traceroute_ran(
        engine: Any, site: dict[str, int], records: Records, language: str) -> None:
    store_results(engine, store_rows(traceroute_results(SITE, "his-db-01", local(22, 10))))
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, language=language, actor="li")
    [paths] = [s for s in rec.content["sections"] if s["key"] == "paths"]
    rows = {(r[1], r[2]): r for r in paths["rows"]}
    assert {t for t, _ in rows} == {BALANCED, MOVED}
    assert rows[(BALANCED, 6)][3] == "94.142.122.45 (42.79, 46.352 ms) / 94.142.122.44 (41.479 ms)"
    assert rows[(BALANCED, 6)][4] == "94.142.122.44 / 94.142.122.45" and rows[(BALANCED, 6)][5] == ""
    assert rows[(MOVED, 4)][3] == f"{OUTSIDE} (25.393 ms)"
    assert rows[(MOVED, 4)][4] == "192.171.61.61 / 192.171.63.17 / 206.248.155.109"
    words = {"zh_CN": ("网络路径", f"不是该跳已知的路由器：{OUTSIDE}", "无应答", "应答的路由器（往返时间）"),
             "en": ("Network paths", f"not a known router of this hop: {OUTSIDE}", "no answer",
                    "Routers that answered (RTT)")}[language]
    assert (paths["title"], rows[(MOVED, 4)][5], rows[(BALANCED, 2)][5], paths["columns"][3]) == words
    assert _row(rec.content, "his-db-01", "traceroute", MOVED)["verdict"] == "warning"
    assert rec.content["rows"] and rec.verified
    page, table = render.html(rec), render.csv_bytes(rec).decode("utf-8-sig")
    for shown in (page, table):
        assert words[0] in shown and words[1] in shown and f"{OUTSIDE} (25.393 ms)" in shown


def test_record_words_come_from_the_chinese_catalog_when_the_site_language_is_default(
        engine: Any, site: dict[str, int], records: Records) -> None:
    rec = records.issue(site=SITE, kind="daily", period=DAY, actor="li")
    assert rec.content["header"]["language"] == "zh_CN"
    assert _row(rec.content, "his-db-01", "disk", "/")["label"] == "磁盘空间 /"
    svc = _row(rec.content, "his-app-01", "service", "MSSQLSERVER")
    assert svc["remark"] == "已恢复；周期内异常结果 1 次"


def test_tampered_content_fails_verification_and_cannot_be_signed_when_updated_in_the_database(
        engine: Any, site: dict[str, int], records: Records) -> None:
    rec = records.issue(site=SITE, kind="daily", period=DAY, actor="li")
    assert records.verify(rec.id)["verified"] is True
    with engine.begin() as conn:
        conn.execute(text("UPDATE records SET content = REPLACE(content, '41.2 %', '14.2 %') WHERE id = :id"),
                     {"id": rec.id})
    check = records.verify(rec.id)
    assert check["verified"] is False and check["computed"] != check["digest"] == rec.digest
    assert records.get(rec.id).verified is False
    with pytest.raises(RecordInvalid, match="fails verification"):
        records.sign(rec.id, signer="王主任", role="customer", actor="li")


def test_signatures_are_appended_with_the_digest_and_leave_the_content_alone_when_signed(
        engine: Any, site: dict[str, int], records: Records) -> None:
    rec = records.issue(site=SITE, kind="daily", period=DAY, actor="li")
    before = engine.connect().execute(text("SELECT content, digest FROM records WHERE id = :id"),
                                      {"id": rec.id}).one()
    records.sign(rec.id, signer="李工", role="engineer", actor="li")
    signed = records.sign(rec.id, signer="王主任", role="customer", note="同意", actor="li")
    assert [(s["signer"], s["role"], s["note"], s["digest"]) for s in signed.signatures] == [
        ("李工", "engineer", "", rec.digest), ("王主任", "customer", "同意", rec.digest)]
    after = engine.connect().execute(text("SELECT content, digest FROM records WHERE id = :id"),
                                     {"id": rec.id}).one()
    assert tuple(before) == tuple(after) and signed.verified
    with pytest.raises(RecordInvalid, match="role"):
        records.sign(rec.id, signer="x", role="boss", actor="li")


def test_bad_requests_are_refused_with_the_field_named_when_issuing(engine: Any, site: dict[str, int],
                                                                    records: Records) -> None:
    cases = [({"site": "no such", "kind": "daily"}, "site"), ({"site": SITE, "kind": "hourly"}, "kind"),
             ({"site": "ghost-site", "kind": "daily"}, "site"),
             ({"site": SITE, "kind": "daily", "period": {"from": DAY, "to": "2026-11-01"}}, "before"),
             ({"site": SITE, "kind": "daily", "period": {"from": "2025-01-01", "to": DAY}}, "366"),
             ({"site": SITE, "kind": "daily", "period": "22/11/2026"}, "date"),
             ({"site": SITE, "kind": "daily", "period": {"date": "2027-01-01"}}, "not started"),
             ({"site": SITE, "kind": "daily", "language": "fr"}, "language")]
    for kwargs, message in cases:
        with pytest.raises(RecordInvalid, match=message):
            records.issue(**kwargs, actor="li")
    with pytest.raises(RecordNotFound):
        records.get(999_999)


def test_default_period_is_the_last_complete_one_in_the_site_zone_when_none_is_given(
        engine: Any, site: dict[str, int], records: Records) -> None:
    daily = records.issue(site=SITE, kind="daily", actor="li")
    weekly = records.issue(site=SITE, kind="weekly", actor="li")
    monthly = records.issue(site=SITE, kind="monthly", actor="li")
    quarterly = records.issue(site=SITE, kind="quarterly", actor="li")
    assert (daily.period_from, daily.period_to) == ("2026-11-22", "2026-11-22")
    assert (weekly.period_from, weekly.period_to) == ("2026-11-16", "2026-11-22")
    assert (monthly.period_from, monthly.period_to) == ("2026-10-01", "2026-10-31")
    assert (quarterly.period_from, quarterly.period_to) == ("2026-07-01", "2026-09-30")
    # the weekly record holds the same day's findings
    assert weekly.content["header"]["counts"]["abnormal"] == 1
    listed = records.list(RecordFilter(site=SITE, date_from="2026-11-01"))
    assert [r["kind"] for r in listed] == ["daily", "weekly"]


def test_an_enrolled_host_that_never_reported_is_listed_under_no_data_and_a_retired_one_is_not(
        engine: Any, site: dict[str, int], records: Records) -> None:
    from collector import inventory
    from collector.store import fleet as fleet_store
    from collector.store.db import writing

    with writing(engine) as conn:
        for host in ("ris-01", "old-01"):
            fleet_store.add_host(conn, {"site": SITE, "host": host, "roles": "[]", "facts": "{}",
                                        "enrolled_at": local(20, 9), "enrolled_via": "key 1",
                                        "approved_at": local(20, 9), "retired_at": None})
    inventory.retire(engine, site=SITE, host="old-01")  # retired now, before this record is issued
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, language="en", actor="engineer-li")
    c = rec.content
    assert "ris-01" in c["header"]["hosts"]
    gap = [g for g in c["gaps"] if g["host"] == "ris-01"]
    assert len(gap) == 1 and gap[0]["remark"] == "never reported since it was enrolled"
    assert _row(c, "ris-01", "", "")["verdict"] == "no_data"
    # old-01 retired after the period: this record still lists it, as the record issued on time did
    assert "old-01" in c["header"]["hosts"]
    with writing(engine) as conn:
        fleet_store.set_host(conn, SITE, "old-01", {"retired_at": local(21, 12)})
    zh = records.issue(site=SITE, kind="daily", period={"date": DAY}, language="zh_CN",
                       actor="engineer-li").content
    assert "old-01" not in zh["header"]["hosts"]  # retired before this period began
    assert [g["remark"] for g in zh["gaps"] if g["host"] == "ris-01"] == ["登记后从未上报"]
