"""The pages in real headless Chromium against a real collector fed by a real agent.

``wardround-collector serve`` runs on SQLite; ``wardround-agent once
--push`` delivers a patrol of this machine; an engineer logs in with a
token, lists and acknowledges a ticket, opens one by hand and asks
for an on-site visit, opens an issued record and downloads
its PDF.  Screenshots of the hosts and record pages are written to the
test's temp dir (and to ``$WARDROUND_SHOTS`` if set) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import command, in_process_cli, write_agent_config

pytestmark = pytest.mark.slow

def _api(collector, method: str, path: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{collector.url}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def _slow_page(browser, **options):
    """A new page whose answers arrive at 16 kB/s, as pages do on a loaded machine, and a function that
    sets another speed (-1: unthrottled).

    Chromium shows the next page (its URL) when the answer's headers arrive and parses the body as
    it comes: a test that reads the page right after a click, before the new page is there, then fails
    every run instead of once under load (the follow-up test read ``dd.followup-due`` that way).
    """
    page = browser.new_page(**options)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")

    def speed(bytes_per_second: int) -> None:
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                      "downloadThroughput": bytes_per_second,
                                                      "uploadThroughput": -1})
    speed(16_000)
    return page, speed


def _follow(page, what, to: str | re.Pattern[str]) -> None:
    """Click ``what`` (a selector or a locator) and return once the page it leads to has loaded: its URL
    ends with ``to`` (or matches the pattern ``to``).  A click returns as the next page's answer starts;
    the old page, or a half-parsed new one, may still be what a locator reads then."""
    url = to if isinstance(to, re.Pattern) else (lambda u: u.endswith(to))
    with page.expect_navigation(url=url, timeout=30_000):
        page.click(what) if isinstance(what, str) else what.click()


def test_engineer_acknowledges_a_ticket_and_downloads_a_record_pdf_when_logged_in(collector, tmp_path,
                                                                                   browser):
    config = write_agent_config(tmp_path / "agent.yaml", collector,
                                "  - check: disk\n    every: 5m\n  - check: system\n    every: 1m\n"
                                "    params: {sample: 0.2}")
    run = subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1, 2, 3), run.stderr
    engineer = in_process_cli("user", "create", "--db", collector.db, "erin", "--role", "engineer")
    ticket = _api(collector, "POST", "/api/v1/tickets", engineer,
                  {"site": "e2e-hospital", "host": "e2e-host", "severity": 2, "summary": "挂号窗口打印缓慢",
                   "reported_via": "phone"})
    record = _api(collector, "POST", "/api/v1/records", engineer,
                  {"site": "e2e-hospital", "kind": "daily", "language": "zh_CN"})

    page, speed = _slow_page(browser, viewport={"width": 1100, "height": 800}, accept_downloads=True,
                             locale="zh-CN")
    page.goto(f"{collector.url}/tickets")
    assert "/login" in page.url
    page.fill("#token", engineer)
    _follow(page, "button[type=submit]", "/tickets")
    _follow(page, "text=挂号窗口打印缓慢", f"/tickets/{ticket['id']}")
    page.fill(f"form[action='/tickets/{ticket['id']}/ack'] input[name=note]", "工程师已接单")
    _follow(page, f"form[action='/tickets/{ticket['id']}/ack'] button", f"/tickets/{ticket['id']}")
    assert page.locator("dd.state").inner_text() == "处理中"
    assert _api(collector, "GET", f"/api/v1/tickets/{ticket['id']}", engineer)["state"] == "acknowledged"

    page.goto(f"{collector.url}/tickets")
    _follow(page, "a[href='/tickets/new']", "/tickets/new")
    page.fill("input[name=site]", "e2e-hospital")
    page.fill("input[name=host]", "e2e-host")
    page.select_option("select[name=severity]", "1")
    page.select_option("select[name=reported_via]", "feedback")
    page.fill("textarea[name=summary]", "门诊医生反馈系统登录超时")
    _follow(page, "form[action='/tickets'] button", re.compile(r"/tickets/\d+$"))
    assert "门诊医生反馈系统登录超时" in page.locator("h1").inner_text()
    _follow(page, "form[action$='/onsite'] button", page.url)
    assert page.locator("dd.onsite").count() == 1
    assert page.goto(f"{collector.url}/tickets/99999999").status == 404
    assert page.locator("h1").inner_text().startswith("未找到")

    page.goto(f"{collector.url}/hosts")
    assert page.locator("text=e2e-host").count() == 1
    shots = Path(os.environ.get("WARDROUND_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "hosts.png"), full_page=True)

    page.goto(f"{collector.url}/records")
    _follow(page, f"a[href='/records/{record['id']}'] >> nth=0", f"/records/{record['id']}")
    assert page.locator(".badge.ok").count() == 1
    assert page.locator("article.record-doc").inner_text(timeout=30_000)  # the record in the page itself
    page.screenshot(path=str(shots / "record.png"), full_page=True)
    speed(-1)  # the PDF (fonts embedded) need not crawl
    with page.expect_download(timeout=120_000) as download:
        page.click(f"a[href='/records/{record['id']}/record.pdf'] >> nth=0")
    pdf = tmp_path / "record.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, timeout=60).stdout
        assert "e2e-hospital" in text and record["digest"] in text.replace("\n", "")


def test_engineer_follows_up_a_resolved_ticket_and_a_low_score_opens_a_complaint_when_the_form_is_sent(
        collector, browser):
    engineer = in_process_cli("user", "create", "--db", collector.db, "erin", "--role", "engineer")
    ticket = _api(collector, "POST", "/api/v1/tickets", engineer,
                  {"site": "e2e-hospital", "host": "e2e-host", "severity": 2, "summary": "药房发药机无法联网",
                   "reported_via": "phone"})
    _api(collector, "POST", f"/api/v1/tickets/{ticket['id']}/resolve", engineer, {"note": "交换机端口已恢复"})

    page, _ = _slow_page(browser, viewport={"width": 1100, "height": 800}, locale="zh-CN")
    page.goto(f"{collector.url}/tickets")
    page.fill("#token", engineer)
    _follow(page, "button[type=submit]", "/tickets")
    _follow(page, "a.waiting", "/tickets?followup=waiting")  # 等待回访（1）
    _follow(page, "text=药房发药机无法联网", f"/tickets/{ticket['id']}")
    form = f"form[action='/tickets/{ticket['id']}/followup']"
    assert page.locator("dd.followup-due").count() == 1
    page.select_option(f"{form} select[name=satisfaction]", "2")
    page.fill(f"{form} input[name=contact]", "药剂科 刘主任")
    page.fill(f"{form} textarea[name=note]", "等了一上午")
    _follow(page, f"{form} button", f"/tickets/{ticket['id']}")
    assert "满意度 2/5" in page.locator("dd.followup").inner_text()
    assert page.locator(form).count() == 0
    stored = _api(collector, "GET", f"/api/v1/tickets/{ticket['id']}", engineer)
    assert stored["state"] == "resolved" and stored["followup"]["satisfaction"] == 2
    complaint_id = stored["followup"]["complaint_ticket"]
    _follow(page, f"a[href='/tickets/{complaint_id}']", f"/tickets/{complaint_id}")
    assert "服务投诉" in page.locator("h1").inner_text()
    assert page.locator("dd.state").inner_text() == "待响应"
    page.goto(f"{collector.url}/tickets?followup=waiting")
    assert page.locator(f"a[href='/tickets/{ticket['id']}']").count() == 0
