"""Every page in real headless Chromium at desktop (1366×768) and phone (390×844) width, with axe-core.

A real ``wardround-collector serve`` (SQLite) gets results, a ticket and a record through its
API; an engineer logs in, lands on Today and goes one click to a ticket.  Each page is then
opened at both widths (desktop in Chinese, phone in English):

* a full-page screenshot is kept (``$WARDROUND_SHOTS``, default ``build/screenshots/``);
* axe-core must find no serious or critical violation (npm, MPL-2.0, nothing vendored:
  installed by ``.ci/run``, or here on first use, into ``$WARDROUND_AXE_DIR``, default
  ``~/.cache/wardround/axe-core``);
* on the phone the page itself is not wider than the screen (wide tables scroll in their box).

At desktop width the ticket list's state badges stay on one line; ``/docs`` renders Swagger UI with
every request to anywhere but the collector refused (a closed network).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from checks.result import Metric, Status
from tests.collector.conftest import make_result
from tests.conftest import missing
from tests.e2e.conftest import in_process_cli

pytestmark = pytest.mark.slow

AXE = "axe-core@4.14.1"
NPM_DIR = Path(os.environ.get("WARDROUND_AXE_DIR", Path.home() / ".cache" / "wardround" / "axe-core"))
SHOTS = Path(os.environ.get("WARDROUND_SHOTS", Path(__file__).resolve().parents[2] / "build" / "screenshots"))
SITE, HOST = "e2e-hospital", "e2e-host"
WIDTHS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


def axe_script() -> Path:
    script = NPM_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if shutil.which("npm") is None:
            missing("npm", "needed to install axe-core for the accessibility pass")
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        if not (NPM_DIR / "package.json").exists():
            (NPM_DIR / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", AXE], cwd=NPM_DIR,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not script.exists():
            missing("axe-core", f"npm install {AXE} failed: {done.stderr[-500:]}")
    return script


def _api(url: str, path: str, token: str, body: dict) -> dict:
    req = urllib.request.Request(f"{url}{path}", method="POST", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def _result(check: str, item: str, status: Status, at: datetime, metric: Metric, summary: str) -> dict:
    return make_result(site=SITE, host=HOST, check=check, item=item, status=status, started_at=at,
                       metrics=(metric,), summary=summary)


def _fill(collector) -> dict[str, int]:
    now = datetime.now(UTC)
    results = [_result("disk", "/", Status.CRITICAL if pct > 90 else Status.OK, now - timedelta(hours=h),
                       Metric("used_percent", pct, "%", warn=80, crit=90), f"/ {pct:g} % used")
               for h, pct in ((100, 50.0), (30, 60.0), (6, 70.0), (1, 95.0))]
    results += [_result("db_backup", "HIS/full", Status.CRITICAL, now - timedelta(minutes=5),
                        Metric("age_seconds", 200000.0, "s", crit=93600), "no full backup for 2.3 d"),
                _result("db_backup", "LIS/full", Status.OK, now - timedelta(minutes=5),
                        Metric("age_seconds", 3600.0, "s", crit=93600), "full backup 1 h ago")]
    _api(collector.url, "/api/v1/results", collector.agent_token, {"results": results})
    engineer = in_process_cli("user", "create", "--db", collector.db, "erin", "--role", "engineer")
    ticket = _api(collector.url, "/api/v1/tickets", engineer, {"site": SITE, "host": HOST, "severity": 2,
                                                                "summary": "挂号窗口打印缓慢", "reported_via": "phone"})
    day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()
    record = _api(collector.url, "/api/v1/records", engineer, {"site": SITE, "kind": "daily", "date": day})
    return {"engineer": engineer, "ticket": ticket["id"], "record": record["id"]}  # type: ignore[dict-item]


def _violations(page, script: Path) -> list[dict]:
    page.add_script_tag(path=str(script))
    found = page.evaluate("""async () => { const r = await axe.run(document);
        return {passed: r.passes.length,
                bad: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                  .map(v => ({id: v.id, impact: v.impact, help: v.help,
                              targets: v.nodes.slice(0, 3).map(n => n.target)}))}; }""")
    assert found["passed"] > 10  # axe really ran its rules on the page
    return found["bad"]


def test_every_page_fits_desktop_and_phone_and_passes_axe_when_an_engineer_runs_the_morning_patrol(
        collector, browser):
    script = axe_script()
    made = _fill(collector)
    SHOTS.mkdir(parents=True, exist_ok=True)
    # bypass_csp: only so the test can inject axe-core; the pages themselves load no script
    context = browser.new_context(viewport=WIDTHS["desktop"], locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.goto(f"{collector.url}/")
    page.fill("#token", made["engineer"])
    page.click("button[type=submit]")
    page.locator("h1").wait_for(timeout=30_000)
    assert page.url.endswith("/today") and page.locator("h1").inner_text() == "今日巡检"
    page.click(f"a[href='/tickets/{made['ticket']}']")  # one click from the line to its detail
    assert page.url.endswith(f"/tickets/{made['ticket']}")
    badges = page.goto(f"{collector.url}/tickets") and page.locator("table.list .badge")
    assert badges.count() >= 1 and all(badges.nth(i).bounding_box()["height"] < 30 for i in range(badges.count()))

    paths = ["/today", "/hosts", f"/hosts/{SITE}/{HOST}", "/tickets", f"/tickets/{made['ticket']}", "/records",
             f"/records/{made['record']}", "/archive"]
    problems: dict[str, list[dict]] = {}
    for (name, viewport), lang in zip(WIDTHS.items(), ("zh_CN", "en"), strict=True):  # both languages too
        page.set_viewport_size(viewport)
        for path in paths:
            assert page.goto(f"{collector.url}{path}?lang={lang}").status == 200, path
            shot = f"{name}-{lang}-{path.strip('/').replace('/', '_')}.png"
            page.screenshot(path=str(SHOTS / shot), full_page=True)
            if name == "phone":
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert wide <= 1, f"{path} is {wide}px wider than the phone"
            found = _violations(page, script)
            if found:
                problems[f"{name} {path}"] = found
    assert problems == {}
    assert page.goto(f"{collector.url}/hosts/{SITE}/{HOST}").status == 200
    assert page.locator("svg.spark").count() == 6 and page.locator("script").count() == 0

    # /docs on a closed network: Swagger UI renders with every request outside the collector refused
    outside: list[str] = []
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"),
                  lambda route: (outside.append(route.request.url), route.abort()))
    page.goto(f"{collector.url}/docs")
    page.locator(".swagger-ui .info .title").wait_for(timeout=30_000)
    assert "Wardround" in page.locator(".swagger-ui .info .title").inner_text() and outside == []
    context.close()
