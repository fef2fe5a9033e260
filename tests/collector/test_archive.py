"""The service archive: append-only entries, corrections, validation, reads, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from collector.archive import Archive, ArchiveConflict, ArchiveQuery
from collector.auth import create_user
from collector.store import archive as store
from collector.store.db import reading, writing
from collector.store.tables import archive_entries
from tests.collector.conftest import SITE

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def engineer_headers(engine):
    return {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}


def _visit(**changes):
    doc = {"site": SITE, "host": "his-db-01", "kind": "visit", "at": "2026-11-20T10:00:00+08:00",
           "phenomenon": "HIS slow at the outpatient windows", "action": "rebuilt indexes; cleared tempdb",
           "parts": "", "signer": "王主任"}
    doc.update(changes)
    return doc


def test_entry_is_stored_with_engineer_and_utc_time_when_posted(client, engineer_headers):
    r = client.post("/api/v1/archive", json=_visit(), headers=engineer_headers)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["engineer"] == "erin"
    assert e["at"] == "2026-11-20T02:00:00.000000Z"
    assert (e["kind"], e["signer"], e["corrects"], e["corrected_by"]) == ("visit", "王主任", None, None)
    assert client.get(f"/api/v1/archive/{e['id']}", headers=engineer_headers).json() == e


def test_local_time_is_read_in_the_site_zone_when_it_has_no_offset(client, engineer_headers):
    r = client.post("/api/v1/archive", json=_visit(at="2026-11-20T10:00"), headers=engineer_headers)
    assert r.json()["at"] == "2026-11-20T02:00:00.000000Z"  # Asia/Shanghai, the default calendar


def test_correction_marks_the_old_entry_and_reports_read_only_the_new_when_logged(client, engineer_headers,
                                                                                  engine):
    old = client.post("/api/v1/archive", json=_visit(), headers=engineer_headers).json()
    fix = client.post("/api/v1/archive", json=_visit(action="rebuilt indexes", corrects=old["id"]),
                      headers=engineer_headers)
    assert fix.status_code == 201, fix.text
    everything = client.get(f"/api/v1/archive?site={SITE}", headers=engineer_headers).json()["entries"]
    assert [(e["id"], e["corrected_by"]) for e in everything] == [(old["id"], fix.json()["id"]),
                                                                    (fix.json()["id"], None)]
    current = client.get(f"/api/v1/archive?site={SITE}&current=true", headers=engineer_headers).json()
    assert [e["id"] for e in current["entries"]] == [fix.json()["id"]]
    again = client.post("/api/v1/archive", json=_visit(corrects=old["id"]), headers=engineer_headers)
    assert again.status_code == 409
    assert f"corrected already by entry {fix.json()['id']}" in again.json()["detail"]
    with reading(engine) as conn:
        assert conn.execute(select(func.count()).select_from(archive_entries)).scalar() == 2


def test_every_bad_field_is_named_when_the_entry_is_invalid(client, engineer_headers):
    r = client.post("/api/v1/archive", json={"site": "bad site!", "kind": "lunch", "at": "yesterday",
                                             "phenomenon": "", "colour": "red"}, headers=engineer_headers)
    assert r.status_code == 422
    detail = r.json()["detail"]
    for part in ("unknown field(s): colour", "site:", "kind: expected one of visit, remote, phone, change, "
                 "upgrade", "at: expected an ISO-8601 time", "phenomenon: expected text", "action: required"):
        assert part in detail


def test_entry_is_refused_when_it_links_a_ticket_or_entry_of_another_site(client, engineer_headers):
    r = client.post("/api/v1/archive", json=_visit(ticket=999), headers=engineer_headers)
    assert (r.status_code, r.json()["detail"]) == (422, f"ticket: no ticket 999 at site {SITE}")
    other = client.post("/api/v1/archive", json=_visit(site="other-hospital"),
                        headers=engineer_headers).json()
    r = client.post("/api/v1/archive", json=_visit(corrects=other["id"]), headers=engineer_headers)
    assert r.status_code == 422
    assert "no archive entry" in r.json()["detail"]


def test_entry_links_its_ticket_when_the_ticket_is_of_the_site(client, engineer_headers):
    t = client.post("/api/v1/tickets", json={"site": SITE, "host": "his-db-01", "severity": 2,
                                             "summary": "printer queue stuck", "reported_via": "phone"},
                    headers=engineer_headers).json()
    r = client.post("/api/v1/archive", json=_visit(kind="phone", ticket=t["id"], signer=""),
                    headers=engineer_headers)
    assert r.status_code == 201, r.text
    assert (r.json()["ticket"], r.json()["signer"]) == (t["id"], "")


def test_future_entry_and_upgrade_without_version_are_refused_when_posted(client, engineer_headers):
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    r = client.post("/api/v1/archive", json=_visit(at=future), headers=engineer_headers)
    assert r.status_code == 422 and "in the future" in r.json()["detail"]
    r = client.post("/api/v1/archive", json=_visit(kind="upgrade"), headers=engineer_headers)
    assert r.status_code == 422 and "version: an upgrade says which version" in r.json()["detail"]


def test_viewer_reads_but_cannot_log_when_authenticated(client, viewer_headers, engineer_headers):
    assert client.post("/api/v1/archive", json=_visit(), headers=viewer_headers).status_code == 403
    assert client.post("/api/v1/archive", json=_visit()).status_code == 401
    assert client.get("/api/v1/archive", headers=viewer_headers).json() == {"entries": []}
    assert client.get("/api/v1/archive/1", headers=viewer_headers).status_code == 404


def test_malformed_body_and_query_get_422_when_sent(client, engineer_headers):
    assert client.post("/api/v1/archive", content=b"{nope", headers=engineer_headers).status_code == 422
    assert client.post("/api/v1/archive", json=[1], headers=engineer_headers).status_code == 422
    for q in ("from=2026-13-01", "to=yesterday", "kind=lunch", "from=2026-11-20T10:00"):
        assert client.get(f"/api/v1/archive?{q}", headers=engineer_headers).status_code == 422, q


def test_listing_filters_by_site_days_in_the_site_zone_and_kind_when_asked(engine):
    archive = Archive(engine, clock=lambda: NOW)
    made = [archive.add(_visit(at=at, kind=kind), engineer="erin") for at, kind in (
        ("2026-11-19T23:59:00+08:00", "visit"), ("2026-11-20T00:00:00+08:00", "visit"),
        ("2026-11-20T23:59:00+08:00", "phone"), ("2026-11-21T00:00:00+08:00", "visit"))]
    day = archive.list(ArchiveQuery(site=SITE, day_from=datetime(2026, 11, 20).date(),
                                    day_to=datetime(2026, 11, 20).date()))
    assert [e["id"] for e in day] == [made[1]["id"], made[2]["id"]]
    visits = archive.list(ArchiveQuery(site=SITE, kinds=("visit",), since=NOW - timedelta(days=30)))
    assert [e["id"] for e in visits] == [made[0]["id"], made[1]["id"], made[3]["id"]]
    assert archive.list(ArchiveQuery(site="other")) == []


def test_database_refuses_a_second_correction_of_one_entry_when_the_rule_is_bypassed(engine):
    archive = Archive(engine, clock=lambda: NOW)
    old = archive.add(_visit(), engineer="erin")
    fix = archive.add(_visit(corrects=old["id"]), engineer="erin")
    row = {k: v for k, v in _visit().items() if k not in ("at",)}
    row.update(at=NOW, version="", ticket_id=None, corrects_id=old["id"], engineer="mallory", created_at=NOW)
    with pytest.raises(IntegrityError), writing(engine) as conn:
        store.insert_entry(conn, row)
    with pytest.raises(ArchiveConflict):
        archive.add(_visit(corrects=old["id"]), engineer="erin")
    assert archive.add(_visit(corrects=fix["id"]), engineer="erin")["corrects"] == fix["id"]
