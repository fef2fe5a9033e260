"""The customer follow-up (回访) over HTTP: after resolution, validated, stored, in the history, audited;
the waiting list; a low score opens a service complaint for the account manager (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from checks.result import Status
from collector.app import create_app
from collector.auth import create_user
from collector.config import Settings
from collector.policy import load_policies
from collector.store.tables import audit_log, notify_events, ticket_followups
from tests.collector.conftest import HOST, SITE, make_result

URL = "/api/v1/tickets"
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
POLICY = """\
default:
  followup: {account_manager: 李娜}
sites:
  every-ticket:
    followup: {tickets: all, within: 24h, clock: 24x7}
"""


@pytest.fixture
def api(db_url: str, engine: Any, tmp_path: Path) -> Any:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICY, encoding="utf-8")
    app = create_app(Settings(db_url=db_url), engine=engine, policies=load_policies(path))
    box = {"now": NOW}
    app.state.services.tickets.clock = lambda: box["now"]
    with TestClient(app, raise_server_exceptions=False) as c:
        c.clock = box
        c.engineer = {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}
        c.viewer = {"Authorization": f"Bearer {create_user(engine, name='vera', role='viewer')}"}
        yield c


def _resolved(api: Any, *, site: str = SITE, summary: str = "挂号窗口打印缓慢") -> dict[str, Any]:
    """A ticket a hospital called in, resolved by the engineer."""
    r = api.post(URL, json={"site": site, "host": HOST, "severity": 2, "summary": summary,
                            "reported_via": "phone"}, headers=api.engineer)
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert api.post(f"{URL}/{tid}/resolve", json={"note": "printer driver reinstalled"},
                    headers=api.engineer).status_code == 200
    return api.get(f"{URL}/{tid}", headers=api.viewer).json()


def _waiting(api: Any, query: str = "waiting") -> list[int]:
    r = api.get(f"{URL}?followup={query}", headers=api.viewer)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["tickets"]]


def test_followup_is_stored_in_history_and_audit_and_leaves_the_waiting_list_when_recorded(api, engine):
    t = _resolved(api)
    assert t["followup"] is None
    # resolved Tuesday 10:00: due by the end of business on the third working day after, Friday 17:30
    assert (t["followup_due"], t["followup_overdue"]) == ("2026-11-27T09:30:00.000000Z", False)
    assert _waiting(api) == [t["id"]]
    api.clock["now"] = NOW + timedelta(hours=3)
    r = api.post(f"{URL}/{t['id']}/followup", json={"satisfaction": 5, "contact": "信息科 王主任",
                                                     "note": "打印恢复正常，很满意"}, headers=api.engineer)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["state"] == "resolved" and got["complaint"] is None
    assert got["followup"] == {"at": "2026-11-24T05:00:00.000000Z", "by": "erin", "satisfaction": 5,
                               "contact": "信息科 王主任", "note": "打印恢复正常，很满意", "complaint_ticket": None}
    assert got["followup_due"] is None
    last = got["history"][-1]
    assert (last["actor"], last["action"], last["from_state"], last["to_state"]) == ("erin", "followup", None, None)
    assert "satisfaction 5/5" in last["note"] and "王主任" in last["note"]
    assert _waiting(api) == []
    with engine.connect() as conn:
        [entry] = conn.execute(select(audit_log).where(audit_log.c.action == "ticket.followup")).all()
        events = [e for (e,) in conn.execute(select(notify_events.c.event))]
    assert (entry.actor, entry.target) == ("erin", f"ticket:{t['id']}")
    assert '"satisfaction":5' in entry.detail.replace(" ", "")
    assert "complaint" not in events  # a happy customer opens nothing


def test_low_score_opens_a_complaint_for_the_account_manager_and_reopens_nothing_when_two_or_less(api, engine):
    t = _resolved(api)
    r = api.post(f"{URL}/{t['id']}/followup", json={"satisfaction": 2, "contact": "门诊部 张护士长",
                                                     "note": "等了两天才修好"}, headers=api.engineer)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["state"] == "resolved" and got["reopened_count"] == 0  # the original is not reopened
    c = got["complaint"]
    assert (c["check"], c["item"], c["host"], c["state"]) == ("complaint", f"ticket-{t['id']}", HOST, "open")
    assert (c["severity"], c["assignee"], c["reported_via"], c["reported_by"]) == (3, "李娜", "followup", "erin")
    assert c["summary"] == f"服务投诉：故障单 #{t['id']} 回访满意度 2/5（客户意见：等了两天才修好）"
    assert got["followup"]["complaint_ticket"] == c["id"]
    complaint = api.get(f"{URL}/{c['id']}", headers=api.viewer).json()
    assert complaint["assignee"] == "李娜" and "for 李娜" in complaint["history"][0]["note"]
    with engine.connect() as conn:
        events = [(e, int(tid)) for e, tid in conn.execute(
            select(notify_events.c.event, notify_events.c.ticket_id).order_by(notify_events.c.id))]
    assert events[-1] == ("complaint", c["id"])
    assert ("opened", c["id"]) not in events
    # the complaint is a ticket like the others: the account manager acknowledges and resolves it
    assert api.post(f"{URL}/{c['id']}/ack", headers=api.engineer).json()["state"] == "acknowledged"


def test_followup_is_refused_with_409_for_an_unresolved_or_followed_up_ticket_when_posted(api):
    r = api.post(URL, json={"site": SITE, "host": HOST, "severity": 3, "summary": "slow",
                            "reported_via": "phone"}, headers=api.engineer)
    open_id = r.json()["id"]
    body = {"satisfaction": 4, "contact": "王主任"}
    r = api.post(f"{URL}/{open_id}/followup", json=body, headers=api.engineer)
    assert r.status_code == 409 and "is open" in r.json()["detail"]
    api.post(f"{URL}/{open_id}/ack", headers=api.engineer)
    assert api.post(f"{URL}/{open_id}/followup", json=body, headers=api.engineer).status_code == 409
    t = _resolved(api)
    assert api.post(f"{URL}/{t['id']}/followup", json=body, headers=api.engineer).status_code == 201
    again = api.post(f"{URL}/{t['id']}/followup", json={**body, "satisfaction": 1}, headers=api.engineer)
    assert again.status_code == 409 and "followed up at" in again.json()["detail"]
    # a closed ticket can still be followed up (the follow-up came after closing)
    t2 = _resolved(api)
    assert api.post(f"{URL}/{t2['id']}/close", headers=api.engineer).status_code == 200
    assert api.post(f"{URL}/{t2['id']}/followup", json=body, headers=api.engineer).status_code == 201


@pytest.mark.parametrize("body, names", [
    ({"satisfaction": 0, "contact": "王"}, ["satisfaction"]),
    ({"satisfaction": 6, "contact": "王"}, ["satisfaction"]),
    ({"satisfaction": "5", "contact": "王"}, ["satisfaction"]),
    ({"satisfaction": True, "contact": "王"}, ["satisfaction"]),
    ({"satisfaction": 4.5, "contact": "王"}, ["satisfaction"]),
    ({"satisfaction": 4}, ["contact"]),
    ({"satisfaction": 4, "contact": "  "}, ["contact"]),
    ({"satisfaction": 4, "contact": "x" * 101}, ["contact"]),
    ({"satisfaction": 4, "contact": "王", "note": "n" * 4001}, ["note"]),
    ({"contact": "王", "note": 7}, ["satisfaction", "note"]),
    ({"satisfaction": 4, "contact": "王", "score": 4}, ["unknown field(s): score"]),
])
def test_bad_followup_values_are_422_naming_each_field_and_store_nothing_when_posted(api, engine, body, names):
    t = _resolved(api)
    r = api.post(f"{URL}/{t['id']}/followup", json=body, headers=api.engineer)
    assert r.status_code == 422, r.text
    for name in names:
        assert name in r.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(select(ticket_followups)).all() == []
    assert _waiting(api) == [t["id"]]


def test_followup_needs_an_engineer_a_known_ticket_and_a_json_object_when_posted(api):
    t = _resolved(api)
    body = {"satisfaction": 5, "contact": "王"}
    assert api.post(f"{URL}/{t['id']}/followup", json=body).status_code == 401
    assert api.post(f"{URL}/{t['id']}/followup", json=body, headers=api.viewer).status_code == 403
    assert api.post(f"{URL}/999999/followup", json=body, headers=api.engineer).status_code == 404
    r = api.post(f"{URL}/{t['id']}/followup", content=b"{not json", headers=api.engineer)
    assert r.status_code == 422
    assert api.post(f"{URL}/{t['id']}/followup", json=[1], headers=api.engineer).status_code == 422


def test_waiting_list_holds_handled_tickets_until_due_then_overdue_when_the_policy_says_handled(
        api, agent_headers):
    mine = _resolved(api)
    # a backup failure monitoring opened and resolved by itself: nobody handled it, no follow-up needed
    at = datetime.now(UTC)
    for i, status in enumerate((Status.CRITICAL, Status.OK, Status.OK)):
        api.post("/api/v1/results", json={"results": [make_result(
            check="backup_files", item="/b/*.bak", status=status, started_at=at + timedelta(seconds=i))]},
            headers=agent_headers)
    [auto] = [t for t in api.get(URL + "?state=resolved", headers=api.viewer).json()["tickets"]
              if t["check"] == "backup_files"]
    assert _waiting(api) == [mine["id"]]
    assert api.get(f"{URL}/{auto['id']}", headers=api.viewer).json()["followup_due"] is None
    # an engineer comments on it: now a person handled it, and it needs a follow-up too
    api.post(f"{URL}/{auto['id']}/comments", json={"text": "called the hospital about the NAS"},
             headers=api.engineer)
    assert sorted(_waiting(api)) == sorted([mine["id"], auto["id"]])
    assert _waiting(api, "overdue") == []
    api.clock["now"] = NOW + timedelta(days=4)  # Saturday: Friday 17:30 has passed
    assert mine["id"] in _waiting(api, "overdue")
    # closing without a follow-up takes it off the list
    api.post(f"{URL}/{mine['id']}/close", headers=api.engineer)
    assert mine["id"] not in _waiting(api)


def test_every_resolved_ticket_waits_with_a_24x7_term_when_the_site_says_all(api, agent_headers, engine):
    token = __import__("collector.auth", fromlist=["create_agent_token"]).create_agent_token(
        engine, site="every-ticket", host=HOST)
    at = datetime.now(UTC)
    for i, status in enumerate((Status.CRITICAL, Status.OK, Status.OK)):
        api.post("/api/v1/results", json={"results": [make_result(
            site="every-ticket", check="backup_files", item="/b/*.bak", status=status,
            started_at=at + timedelta(seconds=i))]}, headers={"Authorization": f"Bearer {token}"})
    [t] = api.get(f"{URL}?followup=waiting&site=every-ticket", headers=api.viewer).json()["tickets"]
    resolved = datetime.fromisoformat(t["resolved_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(t["followup_due"].replace("Z", "+00:00"))
    assert due - resolved == timedelta(hours=24) and t["followup_overdue"] is False


def test_followup_filter_is_checked_when_listing(api):
    r = api.get(f"{URL}?followup=soon", headers=api.viewer)
    assert r.status_code == 422 and "waiting or overdue" in str(r.json())
    assert api.get(f"{URL}?followup=waiting&state=open", headers=api.viewer).status_code == 422
    assert api.get(f"{URL}?followup=waiting&state=resolved", headers=api.viewer).status_code == 200


def test_complaint_notification_names_the_event_and_who_it_is_for_in_both_languages_when_rendered():
    from collector.notify.config import DEFAULT_EVENTS
    from collector.notify.messages import render

    ticket = {"id": 18, "site": SITE, "host": HOST, "check": "complaint", "item": "ticket-17", "severity": 3,
              "level_name": "minor", "state": "open", "summary": "服务投诉：故障单 #17 回访满意度 2/5",
              "assignee": "李娜", "opened_at": "2026-11-24T02:00:00Z"}
    zh = render("complaint", ticket, at=NOW, language="zh", timezone="Asia/Shanghai")
    assert zh.title.startswith("[Wardround] 服务投诉 #18") and "负责人：李娜" in zh.text
    en = render("complaint", ticket, at=NOW, language="en", timezone="Asia/Shanghai")
    assert en.title.startswith("[Wardround] Service complaint #18") and "For: 李娜" in en.text
    assert "complaint" in DEFAULT_EVENTS  # a route that lists no events hears complaints too
