"""/api/v1/tickets: the lifecycle over HTTP with who/when/what history, roles, 409s, manual tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from checks.result import Status
from collector.auth import create_user
from collector.store.tables import notify_events
from tests.collector.conftest import HOST, SITE, make_result

URL = "/api/v1/tickets"
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@pytest.fixture
def clock(app):
    box = {"now": NOW}
    app.state.services.tickets.clock = lambda: box["now"]
    return box


@pytest.fixture
def engineer(engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}


def _fail_backup(client, agent_headers, n: int = 1) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(minutes=n)
    results = [make_result(check="backup_files", item="/backups/*.bak", status=Status.CRITICAL,
                           started_at=start + timedelta(seconds=i), summary="no backup since Sunday")
               for i in range(n)]
    assert client.post("/api/v1/results", json={"results": results}, headers=agent_headers).status_code == 200
    [ticket] = client.get(URL, headers=client.viewer).json()["tickets"]
    return ticket


@pytest.fixture
def api(client, viewer_headers):
    client.viewer = viewer_headers
    return client


def test_lifecycle_is_recorded_with_who_and_when_when_engineers_act(api, agent_headers, engineer, clock,
                                                                   engine):
    t = _fail_backup(api, agent_headers)
    assert t["state"] == "open" and t["severity"] == 2
    clock["now"] = NOW + timedelta(minutes=5)
    r = api.post(f"{URL}/{t['id']}/ack", json={"note": "looking at the backup job"}, headers=engineer)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_at"] == "2026-11-24T02:05:00.000000Z"
    clock["now"] = NOW + timedelta(minutes=30)
    assert api.post(f"{URL}/{t['id']}/comments", json={"text": "disk of the NAS was full"},
                    headers=engineer).status_code == 200
    assert api.post(f"{URL}/{t['id']}/resolve", headers=engineer).json()["state"] == "resolved"
    clock["now"] = NOW + timedelta(hours=1)
    closed = api.post(f"{URL}/{t['id']}/close", json={"note": "customer confirmed"}, headers=engineer).json()
    assert closed["state"] == "closed" and closed["closed_at"] == "2026-11-24T03:00:00.000000Z"

    full = api.get(f"{URL}/{t['id']}", headers=api.viewer).json()
    steps = [(h["actor"], h["action"], h["from_state"], h["to_state"]) for h in full["history"]]
    assert steps == [("system", "open", None, "open"),
                     ("erin", "acknowledge", "open", "acknowledged"),
                     ("erin", "comment", None, None),
                     ("erin", "resolve", "acknowledged", "resolved"),
                     ("erin", "close", "resolved", "closed")]
    assert full["history"][1]["note"] == "looking at the backup job"
    assert full["history"][2]["note"] == "disk of the NAS was full"
    assert full["history"][4]["at"] == "2026-11-24T03:00:00.000000Z"
    with engine.connect() as conn:
        events = [e for (e,) in conn.execute(select(notify_events.c.event).order_by(notify_events.c.id))]
    assert events == ["opened", "acknowledged", "resolved", "closed"]


def test_bad_transition_is_409_naming_the_state_when_not_allowed(api, agent_headers, engineer, clock):
    t = _fail_backup(api, agent_headers)
    assert api.post(f"{URL}/{t['id']}/close", headers=engineer).status_code == 409
    api.post(f"{URL}/{t['id']}/resolve", headers=engineer)
    r = api.post(f"{URL}/{t['id']}/ack", headers=engineer)
    assert r.status_code == 409 and "is resolved" in r.json()["detail"]
    assert api.post(f"{URL}/{t['id']}/resolve", headers=engineer).status_code == 409


def test_viewer_is_refused_when_writing(api, agent_headers, viewer_headers):
    t = _fail_backup(api, agent_headers)
    for path in ("ack", "resolve", "close", "comments", "onsite"):
        r = api.post(f"{URL}/{t['id']}/{path}", json={"text": "x"}, headers=viewer_headers)
        assert r.status_code == 403
    r = api.post(URL, json={"site": SITE, "host": HOST, "severity": 1, "summary": "x",
                            "reported_via": "hotline"}, headers=viewer_headers)
    assert r.status_code == 403
    assert api.post(f"{URL}/{t['id']}/ack", headers=agent_headers).status_code == 403
    assert api.get(URL).status_code == 401


def test_manual_ticket_gets_levels_and_deadlines_when_a_hotline_call_comes_in(api, engineer, clock, engine):
    body = {"site": SITE, "host": HOST, "severity": 1, "summary": "HIS login fails in all wards",
            "reported_via": "hotline", "note": "call from Dr. Wang, ext 8123"}
    r = api.post(URL, json=body, headers=engineer)
    assert r.status_code == 201
    t = r.json()
    assert (t["check"], t["reported_via"], t["reported_by"]) == ("manual", "hotline", "erin")
    assert t["severity"] == 1
    assert t["level_name"] == "system down"
    assert t["response_due"] == "2026-11-24T04:00:00.000000Z"  # level 1 runs 24x7: 2 h
    again = api.post(URL, json={**body, "item": t["item"]}, headers=engineer)
    assert again.status_code == 200 and again.json()["id"] == t["id"] and again.json()["occurrences"] == 2
    history = api.get(f"{URL}/{t['id']}", headers=api.viewer).json()["history"]
    assert "reported via hotline by erin: call from Dr. Wang" in history[0]["note"]
    with engine.connect() as conn:
        assert [e for (e,) in conn.execute(select(notify_events.c.event))] == ["opened"]


@pytest.mark.parametrize("body, expected", [
    ({"site": SITE, "host": HOST, "severity": 5, "summary": "x", "reported_via": "hotline"}, "severity"),
    ({"site": SITE, "host": HOST, "severity": "1", "summary": "x", "reported_via": "hotline"}, "severity"),
    ({"site": SITE, "host": HOST, "severity": 1, "summary": " ", "reported_via": "hotline"}, "summary"),
    ({"site": "a b", "host": HOST, "severity": 1, "summary": "x", "reported_via": "hotline"}, "site"),
    ({"site": SITE, "host": HOST, "severity": 1, "summary": "x", "reported_via": "Phone Call"},
     "reported_via"),
    ({"site": SITE, "host": HOST, "severity": 1}, "missing"),
    ({"site": SITE, "host": HOST, "severity": 1, "summary": "x", "reported_via": "x", "colour": 1},
     "unknown"),
])
def test_manual_ticket_is_422_when_a_field_is_wrong(api, engineer, body, expected):
    r = api.post(URL, json=body, headers=engineer)
    assert r.status_code == 422 and expected in str(r.json()["detail"])


def test_malformed_bodies_and_ids_are_client_errors_when_sent(api, engineer, agent_headers):
    t = _fail_backup(api, agent_headers)
    assert api.post(URL, content=b"{not json", headers=engineer).status_code == 422
    assert api.post(URL, json=[1], headers=engineer).status_code == 422
    assert api.post(f"{URL}/{t['id']}/comments", json={"text": ""}, headers=engineer).status_code == 422
    assert api.post(f"{URL}/{t['id']}/comments", json={"text": 5}, headers=engineer).status_code == 422
    assert api.get(f"{URL}/999999", headers=api.viewer).status_code == 404
    assert api.get(f"{URL}/99999999999999999999", headers=api.viewer).status_code == 422
    assert api.post(f"{URL}/424242/ack", headers=engineer).status_code == 404


def test_list_filters_by_state_site_host_and_severity_when_asked(api, engineer, clock):
    ids = {}
    for host, sev in (("h1", 1), ("h2", 2), ("h3", 3)):
        r = api.post(URL, json={"site": SITE, "host": host, "severity": sev, "summary": f"{host} broken",
                                "reported_via": "email"}, headers=engineer)
        ids[host] = r.json()["id"]
    api.post(f"{URL}/{ids['h2']}/ack", headers=engineer)
    api.post(f"{URL}/{ids['h3']}/resolve", headers=engineer)
    api.post(URL, json={"site": "other-site", "host": "h1", "severity": 2, "summary": "x",
                        "reported_via": "feedback"}, headers=engineer)

    def hosts(query: str) -> list[str]:
        r = api.get(f"{URL}?{query}", headers=api.viewer)
        assert r.status_code == 200, r.text
        return [(t["site"] == SITE and t["host"]) or t["site"] for t in r.json()["tickets"]]

    assert hosts("state=open") == ["h1", "other-site"]
    assert hosts("state=open,acknowledged&site=" + SITE) == ["h1", "h2"]
    assert hosts("state=open&state=resolved&site=" + SITE) == ["h1", "h3"]
    assert hosts("severity=2") == ["h2", "other-site"]
    assert hosts("host=h3") == ["h3"]
    assert api.get(f"{URL}?state=pending", headers=api.viewer).status_code == 422
    assert api.get(f"{URL}?severity=high", headers=api.viewer).status_code == 422


def test_onsite_visit_starts_its_own_deadline_when_requested(api, engineer, clock):
    t = api.post(URL, json={"site": SITE, "host": HOST, "severity": 3, "summary": "printer queue stuck",
                            "reported_via": "phone"}, headers=engineer).json()
    r = api.post(f"{URL}/{t['id']}/onsite", json={"note": "remote fix failed"}, headers=engineer)
    assert r.status_code == 200
    assert r.json()["onsite_requested_at"] == "2026-11-24T02:00:00.000000Z"
    assert r.json()["onsite_due"] == "2026-11-26T08:00:00.000000Z"  # 24 business hours: Thursday 16:00
    assert api.post(f"{URL}/{t['id']}/onsite", headers=engineer).status_code == 409


def test_open_tickets_are_exported_when_scraped(api, engineer):
    for sev in (1, 1, 2):
        api.post(URL, json={"site": SITE, "host": HOST, "severity": sev, "summary": "x",
                            "reported_via": "email"}, headers=engineer)
    text = api.get("/metrics").text
    samples = {(s.labels["site"], s.labels["severity"]): s.value
               for f in text_string_to_metric_families(text) if f.name == "wardround_tickets_open"
               for s in f.samples}
    assert samples == {(SITE, "1"): 2.0, (SITE, "2"): 1.0}
