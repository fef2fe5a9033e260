"""The follow-up on the pages: the form (engineers, CSRF, resolved tickets only), the waiting list."""

from __future__ import annotations

import pytest

from collector.auth import create_user
from tests.collector.conftest import HOST, SITE
from tests.collector.test_web import _csrf, _login


@pytest.fixture
def tokens(engine):
    return {"viewer": create_user(engine, name="vera", role="viewer"),
            "engineer": create_user(engine, name="erin", role="engineer")}


def _resolved(client, engineer: str, summary: str = "HIS slow") -> int:
    auth = {"Authorization": f"Bearer {engineer}"}
    tid = client.post("/api/v1/tickets", json={"site": SITE, "host": HOST, "severity": 2, "summary": summary,
                                               "reported_via": "phone"}, headers=auth).json()["id"]
    assert client.post(f"/api/v1/tickets/{tid}/resolve", headers=auth).status_code == 200
    return tid


def test_engineer_records_a_follow_up_with_csrf_and_the_ticket_leaves_the_waiting_list_when_posted(client,
                                                                                                  tokens):
    tid = _resolved(client, tokens["engineer"])
    _login(client, tokens["engineer"])
    waiting = client.get("/tickets?followup=waiting").text
    assert f'href="/tickets/{tid}"' in waiting and "等待回访（1）" in waiting and "回访时限" in waiting
    page = client.get(f"/tickets/{tid}").text
    assert f'action="/tickets/{tid}/followup"' in page and "回访时限" in page and "非常满意" in page
    form = {"satisfaction": "4", "contact": "信息科 王主任", "note": "已恢复"}
    assert client.post(f"/tickets/{tid}/followup", data=form, follow_redirects=False).status_code == 403
    r = client.post(f"/tickets/{tid}/followup", data={**form, "csrf": _csrf(page)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/tickets/{tid}")
    after = client.get(f"/tickets/{tid}").text
    assert "满意度 4/5" in after and "信息科 王主任" in after and f'action="/tickets/{tid}/followup"' not in after
    assert f'href="/tickets/{tid}"' not in client.get("/tickets?followup=waiting").text
    assert "Satisfaction" not in after  # the page speaks the reader's language, Chinese by default


def test_bad_follow_up_form_shows_the_page_again_with_the_reason_and_keeps_what_was_typed_when_refused(
        client, tokens):
    tid = _resolved(client, tokens["engineer"])
    _login(client, tokens["engineer"])
    page = client.get(f"/tickets/{tid}?lang=en").text
    r = client.post(f"/tickets/{tid}/followup", data={"csrf": _csrf(page), "satisfaction": "", "contact": "Wang",
                                                        "note": "kept"})
    assert r.status_code == 422 and "satisfaction: expected a whole number 1-5" in r.text
    assert 'value="Wang"' in r.text and ">kept</textarea>" in r.text


def test_low_score_on_the_form_links_the_service_complaint_when_posted(client, tokens):
    tid = _resolved(client, tokens["engineer"])
    _login(client, tokens["engineer"])
    page = client.get(f"/tickets/{tid}").text
    client.post(f"/tickets/{tid}/followup", data={"csrf": _csrf(page), "satisfaction": "1", "contact": "张护士长"})
    after = client.get(f"/tickets/{tid}").text
    [complaint] = [t for t in client.get("/api/v1/tickets", headers={
        "Authorization": f"Bearer {tokens['viewer']}"}).json()["tickets"] if t["check"] == "complaint"]
    assert f'<a href="/tickets/{complaint["id"]}">已新建服务投诉单 #{complaint["id"]}</a>' in after


def test_viewer_sees_no_follow_up_form_and_its_post_is_refused_and_open_tickets_get_none(client, tokens):
    tid = _resolved(client, tokens["engineer"])
    _login(client, tokens["viewer"])
    page = client.get(f"/tickets/{tid}").text
    assert "/followup" not in page and "回访时限" in page
    r = client.post(f"/tickets/{tid}/followup", data={"csrf": _csrf(page), "satisfaction": "5", "contact": "王"})
    assert r.status_code == 403
    _login(client, tokens["engineer"])
    auth = {"Authorization": f"Bearer {tokens['engineer']}"}
    live = client.post("/api/v1/tickets", json={"site": SITE, "host": HOST, "severity": 2, "summary": "x",
                                                "reported_via": "phone"}, headers=auth).json()["id"]
    page = client.get(f"/tickets/{live}").text
    assert "/followup" not in page
    r = client.post(f"/tickets/{live}/followup", data={"csrf": _csrf(page), "satisfaction": "5", "contact": "王"})
    assert r.status_code == 409 and "故障单解决后才能回访" in r.text
