"""The morning view: the Today page, history on the host and ticket pages, and the screens that fit.

Results, tokens, tickets and records go in through the real API on both databases; the pages
are read as a logged-in person reads them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from checks.result import Metric, Status
from collector.auth import create_agent_token, create_user
from collector.policy import default_policies, load_policies
from collector.today import today
from collector.web.history import sparkline
from tests.collector.conftest import HOST, SITE, make_result


@pytest.fixture
def people(engine):
    return {"erin": create_user(engine, name="erin", role="engineer"),
            "li": create_user(engine, name="li", role="engineer")}


def _login(client, token):
    r = client.post("/login", data={"token": token, "next": ""}, follow_redirects=False)
    assert r.status_code == 303
    return r


def _post(client, token, results):
    r = client.post("/api/v1/results", json={"results": results}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def _api(client, token, path, body):
    r = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 201), r.text
    return r.json()


def _yesterday() -> str:  # the default policy's calendar is Asia/Shanghai
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()


def test_login_lands_on_today_which_answers_the_morning_questions_per_site(client, engine, agent_token, people):
    assert _login(client, people["erin"]).headers["location"] == "/today"
    create_agent_token(engine, site=SITE, host="never-05")  # enrolled, never reported
    pacs = create_agent_token(engine, site=SITE, host="pacs-04")
    _post(client, agent_token, [
        make_result(check="disk", item="/", status=Status.CRITICAL, summary="/ 95 % used"),
        make_result(check="db_backup", item="HIS/full", status=Status.OK,
                    metrics=(Metric("age_seconds", 3600.0, "s", crit=93600),)),
        make_result(check="db_backup", item="LIS/full", status=Status.CRITICAL,
                    metrics=(Metric("age_seconds", 200000.0, "s", crit=93600),))])
    _post(client, pacs, [make_result(host="pacs-04")])
    ticket = _api(client, people["erin"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 2,
                                                               "summary": "HIS slow", "reported_via": "phone"})
    record = _api(client, people["erin"], "/api/v1/records", {"site": SITE, "kind": "daily", "date": _yesterday()})
    _api(client, people["erin"], f"/api/v1/records/{record['id']}/sign", {"signer": "李工", "role": "engineer"})

    page = client.get("/today").text
    counts = dict(re.findall(r'class="count c-(\w+)"[^>]*>[^<]*<b>(\d+)</b>', page))
    assert counts == {"ok": "1", "warning": "0", "unknown": "0", "abnormal": "1", "silent": "0",
                      "never_reported": "1"}
    assert f'href="/hosts/{SITE}/{HOST}">{HOST}</a>' in page and f'href="/hosts/{SITE}/never-05"' in page
    assert f'href="/hosts/{SITE}/pacs-04"' not in page  # an OK host is counted, not listed ...
    assert f'href="/hosts?site={SITE}"' in page and "pacs-04" in client.get(f"/hosts?site={SITE}").text  # ... here
    assert "pacs-04" not in client.get("/hosts?site=elsewhere").text
    backups = re.findall(r'class="badge o-(\w+)">[^<]*</span> <a href="[^"]+">[^<]* · ([^<]+)</a>', page)
    assert backups == [("missed", "LIS/full")]  # a backup done is counted, not listed
    assert re.search(r'class="count o-done">已完成 <b>1</b>', page)
    assert f'href="/tickets/{ticket["id"]}"' in page and "响应剩余" in page
    assert f'href="/records/{record["id"]}"' in page
    assert "工程师 已签字" in page and "客户 未签字" in page
    en = client.get("/today?lang=en").text
    assert "response:" in en and " left" in en and "Last night&#39;s backups" in en and "<script" not in en
    assert "never reported" in en and "LIS/full" in en


def test_today_keeps_only_my_tickets_and_one_site_when_filtered(client, engine, agent_token, people):
    _post(client, agent_token, [make_result()])
    mine = _api(client, people["erin"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 2,
                                                             "summary": "printer jams", "reported_via": "phone"})
    theirs = _api(client, people["li"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 3,
                                                             "summary": "slow login", "reported_via": "phone"})
    _api(client, people["erin"], f"/api/v1/tickets/{mine['id']}/ack", {})
    _api(client, people["li"], f"/api/v1/tickets/{theirs['id']}/ack", {})
    _login(client, people["erin"])
    assert "printer jams" in client.get("/today").text and "slow login" in client.get("/today").text
    page = client.get("/today?mine=1").text
    assert "printer jams" in page and "slow login" not in page and 'name="mine" value="1" checked' in page
    assert SITE not in re.sub(r"<option[^>]*>[^<]*</option>", "", client.get("/today?site=elsewhere").text)


def test_today_lists_breached_tickets_first_and_key_customers_sites_first_when_deadlines_pass(
        client, engine, agent_token, people, tmp_path):
    _post(client, agent_token, [make_result()])
    late = _api(client, people["erin"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 3,
                                                             "summary": "low", "reported_via": "phone"})
    soon = _api(client, people["erin"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 1,
                                                             "summary": "urgent", "reported_via": "phone"})
    policy = tmp_path / "p.yaml"
    policy.write_text("sites:\n  zz-key-hospital:\n    key_customer: true\n")
    create_agent_token(engine, site="zz-key-hospital", host="a")
    due = datetime.fromisoformat(soon["response_due"].replace("Z", "+00:00"))
    days = today(engine, load_policies(policy), now=due + timedelta(minutes=1))
    assert [d.site for d in days] == ["zz-key-hospital", SITE]
    lines = days[1].tickets
    assert [t["id"] for t in lines] == [soon["id"], late["id"]]
    assert lines[0]["breached"] and lines[0]["left"] == -60 and lines[0]["deadline"] == "response"
    assert not lines[1]["breached"] and lines[1]["left"] > 0


def test_host_page_draws_24h_and_7d_sparklines_with_thresholds_and_the_last_status_change(
        client, agent_token, people):
    now = datetime.now(UTC)
    used = [(now - timedelta(days=3), 50.0), (now - timedelta(hours=5), 60.0), (now - timedelta(hours=2), 95.0)]
    _post(client, agent_token, [
        make_result(started_at=at, status=Status.CRITICAL if v > 90 else Status.OK,
                    metrics=(Metric("used_percent", v, "%", warn=80, crit=90),)) for at, v in used]
        + [make_result(check="db_backup", item="HIS/full", metrics=(Metric("age_seconds", 93600.0, "s"),))])
    _login(client, people["erin"])
    page = client.get(f"/hosts/{SITE}/{HOST}").text
    assert page.count('<svg class="spark"') == 4  # disk and backup, 24 h and 7 d
    disk = page[page.index('id="item-disk-/"'):page.index("</tr>", page.index('id="item-disk-/"'))]
    assert disk.count('stroke-dasharray="3 2"') == 4  # warning and critical line on both
    assert disk.count("<polyline") == 2 and "<script" not in page
    changed = (now - timedelta(hours=2)).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert f'<td class="when">{changed}</td>' in disk
    assert "低 50 %" in disk and "高 95 %" in disk  # the week's range, through the one formatter
    assert "26 小时" in page and "93600" not in page  # a value is never raw seconds, in the reader's words
    assert "26 h" in client.get(f"/hosts/{SITE}/{HOST}?lang=en").text
    assert "一直如此" in page  # the backup item never changed


def test_sparkline_keeps_the_worse_value_of_each_column_and_is_empty_without_points():
    assert sparkline([], 0, 10, None, None, label="x") == ""
    up = str(sparkline([(0, 1.0), (0.01, 9.0), (10, 2.0)], 0, 10, 5, 8, label="a<b"))
    low = str(sparkline([(0, 1.0), (0.01, 9.0), (10, 2.0)], 0, 10, 5, 3, label="x"))  # lower is worse
    y_first = [float(p.split(",")[1]) for p in re.search(r'points="([^"]+)"', up).group(1).split()]
    y_low = [float(p.split(",")[1]) for p in re.search(r'points="([^"]+)"', low).group(1).split()]
    assert y_first[0] < y_first[1] and y_low[0] > y_low[1]  # 9 kept (higher on the drawing) vs 1 kept
    assert 'aria-label="a&lt;b"' in up and "<title>a&lt;b</title>" in up


def test_ticket_page_shows_the_items_current_status_and_recent_results_before_resolving(
        client, agent_token, people):
    now = datetime.now(UTC)
    _post(client, agent_token, [make_result(status=Status.CRITICAL, started_at=now - timedelta(minutes=m),
                                            summary=f"/ {90 + m} % used",
                                            metrics=(Metric("used_percent", 90.0 + m, "%", crit=90),))
                                for m in (3, 2, 1)])
    r = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {people['erin']}"})
    [ticket] = [t for t in r.json()["tickets"] if t["check"] == "disk"]
    _post(client, agent_token, [make_result(status=Status.OK, summary="/ 40 % used",
                                            metrics=(Metric("used_percent", 40.0, "%", crit=90),))])
    _login(client, people["erin"])
    page = client.get(f"/tickets/{ticket['id']}?lang=en").text
    assert re.search(r'Current status: <span class="st s0">OK</span>', page)
    assert page.index("/ 40 % used") < page.index("/ 91 % used") < page.index("/ 93 % used")
    assert "40 %" in page and "93 %" in page
    manual = _api(client, people["erin"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 3,
                                                               "summary": "phone call", "reported_via": "phone"})
    assert "reported by hand" in client.get(f"/tickets/{manual['id']}?lang=en").text


def test_ticket_state_filter_says_what_the_list_shows(client, agent_token, people):
    _post(client, agent_token, [make_result()])
    t = _api(client, people["erin"], "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 3,
                                                          "summary": "done already", "reported_via": "phone"})
    _api(client, people["erin"], f"/api/v1/tickets/{t['id']}/resolve", {})
    _login(client, people["erin"])
    default = client.get("/tickets").text
    assert '<option value="live" selected>' in default and "done already" not in default
    everything = client.get("/tickets?state=all").text
    assert '<option value="all" selected>' in everything and "done already" in everything
    assert '<option value="resolved" selected>' in client.get("/tickets?state=resolved").text
    waiting = client.get("/tickets?followup=waiting").text  # resolved tickets waiting for their follow-up
    assert "done already" in waiting and '<option value="resolved" selected>' in waiting
    assert f'<option value="{SITE}">' in default  # the site filter offers the sites


def test_record_form_chooses_the_customer_from_the_sites(client, agent_token, people):
    _post(client, agent_token, [make_result()])
    _login(client, people["erin"])
    page = client.get("/records").text
    form = page[page.index('action="/records" class="filters"'):]
    assert re.search(r'<select name="site" required>.*?<option value="' + SITE + '">', form, re.S)
    assert 'list="sites"' not in page


def test_a_retired_host_leaves_today_with_its_backups(client, engine, agent_token, people):
    from collector.inventory import retire

    _post(client, agent_token, [make_result(check="db_backup", item="HIS/full", status=Status.CRITICAL,
                                            metrics=(Metric("age_seconds", None, "s", crit=93600),))])
    [day] = today(engine, default_policies())
    assert [b["outcome"] for b in day.backups] == ["missed"] and day.counts["abnormal"] == 1
    retire(engine, site=SITE, host=HOST, actor="test")
    [day] = today(engine, default_policies())  # its live ticket is still to be handled ...
    assert len(day.tickets) == 1 and day.backups == [] and sum(day.counts.values()) == 0  # ... the rest left


def test_the_home_address_keeps_the_language_asked_for_on_its_way_to_today(client, people):
    _login(client, people["erin"])
    client.get("/today?lang=en")  # the cookie now says English
    r = client.get("/?lang=zh_CN", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/today?lang=zh_CN"
    assert '<html lang="zh' in client.get("/?lang=zh_CN").text
