"""The pages: login sessions, redirects, CSRF, role-dependent forms, each page's content."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from checks.result import Metric, Status
from collector.app import create_app
from collector.auth import create_user
from collector.config import Settings
from collector.store.db import reading
from collector.store.tables import web_sessions
from collector.web.sessions import COOKIE, csrf_token
from tests.collector.conftest import HOST, SITE, make_result
from tests.collector.path_results import BALANCED, MOVED, OUTSIDE, ping_with_evidence, traceroute_results


@pytest.fixture
def tokens(engine):
    return {"viewer": create_user(engine, name="vera", role="viewer"),
            "engineer": create_user(engine, name="erin", role="engineer")}


def _login(client, token, next_="/hosts"):
    return client.post("/login", data={"token": token, "next": next_}, follow_redirects=False)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


@pytest.fixture
def data(client, agent_headers, tokens):
    now = datetime.now(UTC)
    batch = [make_result(check="disk", item="/", status=Status.CRITICAL, started_at=now,
                         summary="/ 95 % used",
                         metrics=(Metric("used_percent", 95.0, "%", warn=80, crit=90),)),
             make_result(check="system", item="cpu", started_at=now)]
    assert client.post("/api/v1/results", json={"results": batch}, headers=agent_headers).status_code == 200
    t = client.post("/api/v1/tickets", json={"site": SITE, "host": HOST, "severity": 2, "summary": "HIS slow",
                                             "reported_via": "phone"},
                    headers={"Authorization": f"Bearer {tokens['engineer']}"})
    return t.json()


@pytest.fixture
def annual_id(client, tokens, data):
    """The id of an annual record (English) an engineer issued through the API; the client logged in as a viewer."""
    issued = client.post("/api/v1/records", json={"site": SITE, "kind": "annual", "language": "en"},
                         headers={"Authorization": f"Bearer {tokens['engineer']}"})
    assert issued.status_code in (200, 201), issued.text
    _login(client, tokens["viewer"])
    return issued.json()["id"]


def test_pages_redirect_to_login_when_not_logged_in(client):
    for path in ("/hosts", "/tickets", "/tickets/1", "/records", "/archive", f"/hosts/{SITE}/{HOST}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=%2F")
    assert client.get("/login").status_code == 200


def test_login_sets_a_strict_httponly_cookie_and_stores_only_a_hash_when_the_token_is_good(client, tokens,
                                                                                             engine):
    r = _login(client, tokens["viewer"], "/tickets")
    assert (r.status_code, r.headers["location"]) == (303, "/tickets")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    session_id = client.cookies.get(COOKIE)
    with reading(engine) as conn:
        stored = [row.id_hash for row in conn.execute(select(web_sessions))]
    assert len(stored) == 1 and session_id not in stored[0] and len(stored[0]) == 64
    assert client.get("/hosts").status_code == 200


def test_login_is_refused_when_the_token_is_wrong_or_an_agents(client, agent_token):
    for token in ("wru_nope", agent_token, ""):
        r = _login(client, token)
        assert r.status_code == 401
        assert COOKIE not in r.cookies
    assert _login(client, "x", next_="//evil.example/").status_code == 401


@pytest.mark.parametrize("header", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                    {"Origin": "http://testserver.evil.example"},
                                    {"Referer": "https://evil.example/login.html"},
                                    {"Origin": "https://testserver"}])  # same host, another scheme: not ours
def test_login_is_refused_when_the_form_came_from_another_site(client, tokens, engine, header):
    r = client.post("/login", data={"token": tokens["engineer"]}, headers=header, follow_redirects=False)
    assert r.status_code == 403
    assert COOKIE not in r.cookies and "set-cookie" not in r.headers
    assert "登录表单来自其他网站" in r.text
    with reading(engine) as conn:
        assert conn.execute(select(web_sessions)).first() is None


@pytest.mark.parametrize("header", [{"Origin": "http://testserver"}, {"Referer": "http://testserver/login?next=/"},
                                    {}])  # no Origin and no Referer: not a browser that can be tricked
def test_login_works_when_the_form_came_from_the_collector_itself(client, tokens, header):
    r = client.post("/login", data={"token": tokens["engineer"]}, headers=header, follow_redirects=False)
    assert r.status_code == 303 and COOKIE in r.cookies


def _proxied_app(db_url, engine, client_ip):
    app = create_app(Settings(db_url=db_url, trusted_proxies=("10.0.0.0/8", "192.168.1.7/32")), engine=engine)
    return TestClient(app, raise_server_exceptions=False, client=(client_ip, 40000), base_url="http://wardround.example")


@pytest.mark.parametrize("proxy_ip", ["10.1.2.3", "192.168.1.7"])
def test_session_cookie_is_secure_when_a_trusted_proxy_says_the_page_came_over_https(db_url, engine, tokens,
                                                                                     proxy_ip):
    with _proxied_app(db_url, engine, proxy_ip) as c:
        r = c.post("/login", data={"token": tokens["viewer"]}, follow_redirects=False,
                   headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9",
                            "Origin": "https://wardround.example"})
        assert r.status_code == 303
        assert "secure" in r.headers["set-cookie"].lower()


def test_forwarded_headers_are_ignored_when_they_come_from_anyone_else(db_url, engine, tokens):
    with _proxied_app(db_url, engine, "192.168.1.8") as c:
        r = c.post("/login", data={"token": tokens["viewer"]}, follow_redirects=False,
                   headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 303
        assert "secure" not in r.headers["set-cookie"].lower()
        # ...and an https Origin does not match what this plain-HTTP client reached.
        r = c.post("/login", data={"token": tokens["viewer"]}, follow_redirects=False,
                   headers={"X-Forwarded-Proto": "https", "Origin": "https://wardround.example"})
        assert r.status_code == 403


def test_next_is_kept_local_when_it_points_elsewhere(client, tokens):
    assert _login(client, tokens["viewer"], "https://evil.example/").headers["location"] == "/today"


def test_viewer_sees_no_write_forms_and_cannot_post_when_logged_in(client, tokens, data):
    _login(client, tokens["viewer"])
    page = client.get(f"/tickets/{data['id']}").text
    assert "HIS slow" in page and "/ack" not in page and "/resolve" not in page
    csrf = _csrf(page)  # the logout form's
    r = client.post(f"/tickets/{data['id']}/ack", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/archive/new").status_code == 403
    assert "/archive/new" not in client.get("/archive").text


def test_engineer_acknowledges_with_csrf_and_is_refused_without_it_when_logged_in(client, tokens, data):
    _login(client, tokens["engineer"])
    page = client.get(f"/tickets/{data['id']}").text
    assert f'action="/tickets/{data["id"]}/ack"' in page
    r = client.post(f"/tickets/{data['id']}/ack", data={"note": "on it"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/tickets/{data['id']}/ack", data={"csrf": "0" * 64}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/tickets/{data['id']}/ack", data={"csrf": _csrf(page), "note": "on it"},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/tickets/{data['id']}")
    after = client.get(f"/tickets/{data['id']}").text
    assert "on it" in after and f'action="/tickets/{data["id"]}/ack"' not in after
    again = client.post(f"/tickets/{data['id']}/ack", data={"csrf": _csrf(page)})
    assert again.status_code == 409
    assert "只有待响应的故障单可以响应" in again.text  # the refusal in the reader's language (zh_CN by default)
    again = client.post(f"/tickets/{data['id']}/ack?lang=en", data={"csrf": _csrf(page)})
    assert again.status_code == 409 and "only an open ticket can be acknowledged" in again.text


def test_hosts_and_host_pages_show_status_standard_and_value_when_results_arrived(client, tokens, data):
    _login(client, tokens["viewer"])
    hosts = client.get("/hosts?lang=en").text
    assert HOST in hosts and "CRITICAL" in hosts
    host = client.get(f"/hosts/{SITE}/{HOST}").text
    assert "used &lt; 80 %" in host and "95 %" in host and "/ 95 % used" in host
    assert client.get(f"/hosts/{SITE}/nope").status_code == 404


def test_host_page_shows_values_formatted_in_the_readers_language(client, tokens, agent_headers):
    """A 0.16 ms connect never reads "0 s" or "0.00016 s", a long age never raw seconds (issue 14)."""
    now = datetime.now(UTC)
    batch = [make_result(check="port", item="db:5432", started_at=now, summary="connected",
                         metrics=(Metric("connect_time", 0.00016, "s"),)),
             make_result(check="backup_files", item="/backup", started_at=now, summary="old",
                         metrics=(Metric("age", 450155.0, "s"), Metric("size", 1e6, "B")))]
    assert client.post("/api/v1/results", json={"results": batch}, headers=agent_headers).status_code == 200
    _login(client, tokens["viewer"])
    zh = client.get(f"/hosts/{SITE}/{HOST}").text
    assert ">0.16 ms<" in zh and ">5.2 天<" in zh and "450155" not in zh and "e-0" not in zh
    en = client.get(f"/hosts/{SITE}/{HOST}?lang=en").text
    assert ">0.16 ms<" in en and ">5.2 d<" in en


def test_host_page_shows_every_router_of_a_balanced_hop_and_a_router_outside_them_in_the_readers_language(
        client, tokens, agent_headers):
    batch = [*traceroute_results(SITE, HOST, datetime.now(UTC)), ping_with_evidence(SITE, HOST, datetime.now(UTC))]
    assert client.post("/api/v1/results", json={"results": batch}, headers=agent_headers).status_code == 200
    _login(client, tokens["viewer"])
    zh = client.get(f"/hosts/{SITE}/{HOST}").text
    assert f"到 {BALANCED} 的网络路径" in zh and f"到 {MOVED} 的网络路径" in zh
    assert "94.142.122.45 (42.79, 46.352 ms) / 94.142.122.44 (41.479 ms)" in zh  # hop 6, both routers
    assert "94.142.122.44 / 94.142.122.45" in zh  # hop 6's known routers
    assert f"不是该跳已知的路由器：{OUTSIDE}" in zh and "无应答" in zh
    assert "（ping 结果变差时跟踪）" in zh and "192.0.2.1 (0.226, 0.008, 0.006 ms)" in zh
    en = client.get(f"/hosts/{SITE}/{HOST}?lang=en").text
    assert f"Network path to {MOVED}" in en and f"not a known router of this hop: {OUTSIDE}" in en
    assert "192.171.61.61 / 192.171.63.17 / 206.248.155.109" in en
    assert "到 " not in en and "路由器" not in en


def test_pages_speak_chinese_by_default_and_english_when_asked(client, tokens, data):
    _login(client, tokens["viewer"])
    assert "故障单" in client.get("/tickets").text
    r = client.get("/tickets?lang=en")
    assert "Tickets" in r.text and "故障单" not in r.text
    assert "Tickets" in client.get("/tickets").text  # remembered in a cookie


def test_ticket_filters_narrow_the_list_when_given(client, tokens, data):
    _login(client, tokens["viewer"])
    assert "HIS slow" in client.get("/tickets?state=open&severity=2").text
    assert "HIS slow" not in client.get("/tickets?state=closed").text
    assert "HIS slow" not in client.get("/tickets?site=other").text


def test_engineer_logs_and_corrects_an_archive_entry_through_the_form_when_logged_in(client, tokens):
    _login(client, tokens["engineer"])
    form = client.get("/archive/new").text
    fields = {"csrf": _csrf(form), "site": SITE, "kind": "visit", "at": "2026-11-20T10:00",
              "phenomenon": "slow", "action": "rebuilt indexes", "signer": "王主任"}
    r = client.post("/archive", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    listing = client.get(f"/archive?site={SITE}").text
    assert "rebuilt indexes" in listing and "王主任" in listing
    fix = client.get("/archive/new?corrects=1").text
    assert 'name="corrects" value="1"' in fix and 'value="2026-11-20T10:00"' in fix
    bad = client.post("/archive", data={**fields, "kind": "lunch"})
    assert bad.status_code == 422 and "类型：应为 visit" in bad.text  # the page's language (zh_CN by default)


def test_logout_ends_the_session_when_posted_with_csrf(client, tokens, engine):
    _login(client, tokens["viewer"])
    page = client.get("/hosts").text
    session_id = client.cookies.get(COOKIE)
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    r = client.post("/logout", data={"csrf": csrf_token(session_id)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    client.cookies.set(COOKIE, session_id)  # a stolen copy of the old cookie opens nothing
    assert client.get("/hosts", follow_redirects=False).status_code == 303
    assert _csrf(page)


def test_stylesheet_is_small_and_pages_load_nothing_from_elsewhere(client, tokens, data):
    css = client.get("/static/style.css")
    assert css.status_code == 200 and len(css.content) < 8000
    _login(client, tokens["viewer"])
    for path in ("/hosts", "/tickets", f"/tickets/{data['id']}", "/records", "/archive"):
        page = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', page), path
        assert "<script" not in page


def test_record_page_shows_the_rendering_in_the_page_offers_downloads_and_signs_when_issued(client, tokens,
                                                                                             annual_id):
    rid = annual_id
    assert f'href="/records/{rid}"' in client.get("/records").text
    page = client.get(f"/records/{rid}").text
    assert "Verified" in client.get(f"/records/{rid}?lang=en").text
    assert f"/records/{rid}/record.pdf" in page
    # shown in the page itself (no frame of fixed height), the same text as the full rendering
    assert "<iframe" not in page and '<article class="record-doc"' in page
    assert "Patrols delivered versus promised" in page and "<style" not in page
    assert 'action="/records/' not in page  # a viewer gets no sign form
    content = client.get(f"/records/{rid}/content.html")
    assert content.status_code == 200 and "Patrols delivered versus promised" in content.text
    csv = client.get(f"/records/{rid}/record.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert client.get("/records/999999").status_code == 404
    _login(client, tokens["engineer"])
    page = client.get(f"/records/{rid}").text
    sign = {"csrf": _csrf(page), "signer": "Zhang Wei", "role": "engineer"}
    r = client.post(f"/records/{rid}/sign", data=sign, follow_redirects=False)
    assert r.status_code == 303
    assert "Zhang Wei" in client.get(f"/records/{rid}").text
    bad = client.post(f"/records/{rid}/sign", data={"csrf": _csrf(page), "signer": "", "role": "boss"})
    assert bad.status_code == 422


def test_record_page_names_the_signing_key_and_shows_tampering_without_a_sign_form_when_changed(
        client, tokens, data, engine, app):
    engineer = {"Authorization": f"Bearer {tokens['engineer']}"}
    rid = client.post("/api/v1/records", json={"site": SITE, "kind": "daily", "language": "en"},
                      headers=engineer).json()["id"]
    _login(client, tokens["engineer"])
    key = app.state.services.keys.public
    page = client.get(f"/records/{rid}?lang=en").text
    assert "✔ Verified" in page and key.key_id in page and key.fingerprint in page
    assert f'action="/records/{rid}/sign"' in page
    with engine.begin() as conn:
        conn.execute(text("UPDATE records SET issued_by = 'mallory' WHERE id = :id"), {"id": rid})
    page = client.get(f"/records/{rid}?lang=en").text
    assert "✖ Verification failed" in page and f'action="/records/{rid}/sign"' not in page
    zh = client.get(f"/records/{rid}?lang=zh_CN").text
    assert "校验失败" in zh


def test_page_errors_render_the_error_page_in_the_readers_language_when_refused_or_missing(client, tokens,
                                                                                           data):
    _login(client, tokens["viewer"])
    missing = client.get("/tickets/999999?lang=en")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Not found" in missing.text and "no ticket 999999" in missing.text and "vera" in missing.text
    assert "没有故障单 999999" in client.get("/tickets/999999?lang=zh_CN").text  # the service's refusal too
    assert client.get("/tickets/abc").status_code == 404
    assert "<h1>" in client.get("/no/such/page").text
    refused = client.get("/archive/new?lang=zh_CN")
    assert refused.status_code == 403 and "无权操作" in refused.text
    posted = client.post(f"/tickets/{data['id']}/ack", data={})
    assert posted.status_code == 403 and "无权操作" in posted.text and "<html" in posted.text
    admin_only = client.get("/admin?lang=zh_CN")  # an admin page: the headline must not say "engineer"
    assert admin_only.status_code == 403 and "工程师" not in admin_only.text.split('class="hint"')[0]


def test_api_errors_stay_json_when_the_pages_answer_html(client, viewer_headers):
    r = client.get("/api/v1/tickets/999999", headers=viewer_headers)
    assert r.status_code == 404 and r.json() == {"detail": "no ticket 999999"}
    r = client.get("/api/v1/tickets/abc", headers=viewer_headers)
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    assert client.get("/api/v1/nope").json() == {"detail": "Not Found"}
    assert client.get("/tickets/1", follow_redirects=False).status_code == 303


def test_engineer_opens_a_ticket_by_hand_and_it_is_listed_when_the_form_is_posted_with_csrf(client, tokens,
                                                                                           engine, data):
    _login(client, tokens["engineer"])
    assert 'href="/tickets/new"' in client.get("/tickets").text
    form = client.get(f"/tickets/new?site={SITE}&host={HOST}").text
    assert 'action="/tickets"' in form and f'value="{SITE}"' in form
    fields = {"csrf": _csrf(form), "site": SITE, "host": HOST, "severity": "1", "reported_via": "feedback",
              "summary": "门诊挂号打印机卡纸", "note": "李护士 8801"}
    assert client.post("/tickets", data={k: v for k, v in fields.items() if k != "csrf"},
                       follow_redirects=False).status_code == 403
    r = client.post("/tickets", data=fields, follow_redirects=False)
    assert r.status_code == 303 and re.fullmatch(r"/tickets/\d+", r.headers["location"]), r.text
    ticket_id = int(r.headers["location"].rsplit("/", 1)[1])
    listed = client.get("/tickets").text
    assert f'href="/tickets/{ticket_id}"' in listed and "门诊挂号打印机卡纸" in listed
    api = client.get(f"/api/v1/tickets/{ticket_id}", headers={"Authorization": f"Bearer {tokens['engineer']}"})
    assert api.json()["reported_via"] == "feedback" and api.json()["severity"] == 1
    assert "李护士 8801" in api.json()["history"][0]["note"]
    bad = client.post("/tickets", data={**fields, "severity": "9", "host": "bad host"})
    assert bad.status_code == 422 and "级别：应为" in bad.text and "主机：应为" in bad.text  # in the reader's language
    assert "门诊挂号打印机卡纸" in bad.text  # the typed text is kept


def test_viewer_gets_no_ticket_form_and_a_post_is_refused_when_logged_in(client, tokens, data):
    _login(client, tokens["viewer"])
    listing = client.get("/tickets").text
    assert "/tickets/new" not in listing and "/onsite" not in client.get(f"/tickets/{data['id']}").text
    assert client.get("/tickets/new").status_code == 403
    r = client.post("/tickets", data={"csrf": _csrf(listing), "site": SITE, "host": HOST, "severity": "2",
                                      "reported_via": "phone", "summary": "x"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/tickets/{data['id']}/onsite", data={"csrf": _csrf(listing)}, follow_redirects=False)
    assert r.status_code == 403


def test_engineer_requests_an_onsite_visit_once_when_the_case_is_unsolved(client, tokens, data):
    _login(client, tokens["engineer"])
    page = client.get(f"/tickets/{data['id']}?lang=en").text
    assert f'action="/tickets/{data["id"]}/onsite"' in page and "On-site visit by" not in page
    assert client.post(f"/tickets/{data['id']}/onsite", data={}, follow_redirects=False).status_code == 403
    r = client.post(f"/tickets/{data['id']}/onsite", data={"csrf": _csrf(page), "note": "needs a new disk"},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/tickets/{data['id']}")
    after = client.get(f"/tickets/{data['id']}").text
    assert "On-site visit by" in after and "needs a new disk" in after
    # the default policy's level 2: respond within 2 h, resolve within 18 h, on-site within 24 h, working time
    assert "(2 hours of business time)" in after and "(18 hours of business time)" in after
    assert "(24 hours of business time)" in after
    assert "工作时间18小时" in client.get(f"/tickets/{data['id']}?lang=zh_CN").text
    assert f'action="/tickets/{data["id"]}/onsite"' not in after
    again = client.post(f"/tickets/{data['id']}/onsite", data={"csrf": _csrf(page)})
    assert again.status_code == 409 and "已于" in again.text and "申请现场服务" in again.text


def test_engineer_issues_a_record_now_and_lands_on_it_when_the_form_is_posted_with_csrf(client, tokens, data):
    _login(client, tokens["engineer"])
    page = client.get("/records?lang=en").text
    assert 'method="post" action="/records"' in page and f'<option value="{SITE}">' in page
    fields = {"csrf": _csrf(page), "site": SITE, "kind": "daily", "date": "", "language": "en"}
    assert client.post("/records", data={**fields, "csrf": ""}, follow_redirects=False).status_code == 403
    r = client.post("/records", data=fields, follow_redirects=False)
    assert r.status_code == 303 and re.fullmatch(r"/records/\d+", r.headers["location"]), r.text
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    record = client.get(f"/api/v1/records/{rid}", headers={"Authorization": f"Bearer {tokens['engineer']}"})
    assert record.json()["kind"] == "daily" and record.json()["language"] == "en"
    assert record.json()["issued_by"] == "erin"
    assert "Verified" in client.get(f"/records/{rid}").text
    dated = client.post("/records", data={**fields, "kind": "monthly", "date": "2026-01-15", "language": ""},
                        follow_redirects=False)
    assert dated.status_code == 303
    assert f'href="{dated.headers["location"]}"' in client.get("/records").text
    bad = client.post("/records", data={**fields, "site": "nowhere", "date": "someday"})
    assert bad.status_code == 422 and "nowhere" in bad.text and "<details class=\"issue\" open>" in bad.text


def test_viewer_gets_no_issue_form_and_a_post_is_refused_when_logged_in(client, tokens, data):
    _login(client, tokens["viewer"])
    page = client.get("/records").text
    assert 'method="post" action="/records"' not in page
    r = client.post("/records", data={"csrf": _csrf(page), "site": SITE, "kind": "daily"}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/api/v1/records", headers={"Authorization": f"Bearer {tokens['viewer']}"}).json() == {
        "records": []}


def test_an_error_page_says_the_web_layers_own_reasons_in_the_readers_language(client, tokens):
    _login(client, tokens["viewer"])
    zh = client.get(f"/hosts/{SITE}/nope")
    assert zh.status_code == 404 and f"站点 {SITE} 没有服务器 nope" in zh.text and "no host" not in zh.text
    r = client.post("/tickets/1/ack", data={"csrf": "wrong"})
    assert r.status_code == 403 and "表单的 CSRF 令牌缺失或不正确" in r.text
    en = client.get(f"/hosts/{SITE}/nope?lang=en")  # the cookie now says en
    assert f"no host nope at site {SITE}" in en.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the words, not the database
def test_a_record_pdf_without_fontconfig_is_refused_in_the_pages_language(client, tokens, annual_id, monkeypatch,
                                                                          tmp_path):
    from collector.records import fonts

    rid, engineer = annual_id, {"Authorization": f"Bearer {tokens['engineer']}"}
    monkeypatch.setenv("PATH", str(tmp_path))  # a collector installed without fontconfig: no fc-list
    for cached in (fonts._installed, fonts.family_chain):  # what this process found installed, forgotten
        cached.cache_clear()
    try:
        zh = client.get(f"/records/{rid}/record.pdf?lang=zh_CN")
        en = client.get(f"/records/{rid}/record.pdf?lang=en")
        api = client.get(f"/api/v1/records/{rid}.pdf", headers=engineer)
    finally:
        for cached in (fonts._installed, fonts.family_chain):
            cached.cache_clear()
    english = ("PDF output is not available on this collector (fontconfig or the fonts missing); the record is "
               "available as .html and .csv")
    assert zh.status_code == en.status_code == api.status_code == 503
    assert "此采集端无法输出 PDF（缺少 fontconfig 或字体）；该记录可以 .html 和 .csv 格式查看" in zh.text
    assert english not in zh.text and english in en.text.replace("&#39;", "'")
    assert api.json() == {"detail": english}  # the API's answer as it always was


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the words, not the database
def test_a_form_the_collector_cannot_read_is_refused_in_the_pages_language(client):
    sent = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "br"}
    zh = client.post("/login?lang=zh_CN", content=b"token=x", headers=sent)
    en = client.post("/login?lang=en", content=b"token=x", headers=sent)
    assert zh.status_code == en.status_code == 415
    assert "不支持 Content-Encoding &#39;br&#39;：请用 gzip 压缩或不压缩发送" in zh.text, zh.text[-1500:]
    assert "Content-Encoding &#39;br&#39; is not supported: send gzip or no encoding" in en.text
