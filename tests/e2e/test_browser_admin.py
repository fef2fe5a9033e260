"""The admin page in real headless Chromium against a real collector: see, rotate and revoke every credential.

An admin logs in, sees a host that never reported and one awaiting approval, approves it,
makes an enrolment key (shown once), rotates an agent token (the old one keeps working, the
new one is shown once and works), revokes it (both refused at once), gives a person a new
token and disables another (their session ends).  A screenshot is written for a person to
look at (``$WARDROUND_SHOTS`` if set).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import CollectorProcess
from tests.e2e.test_browser import _follow, _slow_page

pytestmark = pytest.mark.slow
SITE = "e2e-hospital"


def _status(c: CollectorProcess, token: str, path: str = "/api/v1/agent/config") -> int:
    req = urllib.request.Request(f"{c.url}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_an_admin_sees_rotates_and_revokes_credentials_on_the_admin_page(tmp_path, browser):
    c = CollectorProcess(tmp_path, site=SITE, host="e2e-host")
    admin = c.cli("user", "create", "ada", "--role", "admin").stdout.strip().splitlines()[-1]
    vera = c.cli("user", "create", "vera", "--role", "viewer").stdout.strip().splitlines()[-1]
    key = c.cli("enrol-key", "create", "--site", SITE, "--approve", "manual").stdout.strip().splitlines()[-1]
    c.start()
    try:
        req = urllib.request.Request(f"{c.url}/api/v1/enrol", method="POST", data=json.dumps(
            {"host": "lab-07", "roles": ["lab"]}).encode(), headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            lab_token = json.load(r)["token"]
        assert _status(c, lab_token) == 403  # awaiting approval

        page, _ = _slow_page(browser, viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.goto(f"{c.url}/admin")
        page.fill("#token", admin)
        _follow(page, "button[type=submit]", "/admin")
        assert page.locator("h1").inner_text() == "系统管理"
        hosts = page.locator("#hosts + .scroll table").inner_text()
        assert "e2e-host" in hosts and "从未上报" in hosts and "lab-07" in hosts and "待批准" in hosts
        _follow(page, "form[action='/admin/approve'] button", "/admin/approve")
        assert "已批准 e2e-hospital/lab-07" in page.locator(".done").inner_text()
        assert _status(c, lab_token) == 200

        page.fill("form[action='/admin/key'] input[name=site]", SITE)
        page.fill("form[action='/admin/key'] input[name=roles]", "his-db, linux")
        _follow(page, "form[action='/admin/key'] button", "/admin/key")
        shown = page.locator("#secret").inner_text()
        assert shown.startswith("wre_") and "请立即复制" in page.locator(".secret").inner_text()

        row = page.locator("#tokens + .scroll table tr", has_text="e2e-host")
        _follow(page, row.locator("form[action='/admin/rotate'] button"), "/admin/rotate")
        new = page.locator("#secret").inner_text()
        assert new.startswith("wra_") and new != c.agent_token
        assert _status(c, c.agent_token) == 200 and _status(c, new) == 200  # the grace period
        shot = tmp_path / "admin.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("WARDROUND_SHOTS"):
            shutil.copy(shot, os.environ["WARDROUND_SHOTS"])
        _follow(page, page.locator("#tokens + .scroll table tr", has_text="e2e-host").locator(
            "form[action='/admin/revoke'] button").first, "/admin/revoke")
        assert _status(c, c.agent_token) == 401 and _status(c, new) == 401

        other, _ = _slow_page(browser, locale="en")
        other.goto(f"{c.url}/login")
        other.fill("#token", vera)
        _follow(other, "button[type=submit]", "/today")  # where login lands
        other.goto(f"{c.url}/admin")
        assert "403" in other.content() or other.locator("h1").inner_text() != "Administration"
        _follow(page, page.locator("#people + .scroll table tr", has_text="vera").locator(
            "form[action='/admin/disable'] button"), "/admin/disable")
        assert "已停用 vera" in page.locator(".done").inner_text()
        other.goto(f"{c.url}/hosts")
        assert "/login" in other.url  # her session ended with her
        _follow(page, page.locator("#people + .scroll table tr", has_text="vera").locator(
            "form[action='/admin/user-token'] button"), "/admin/user-token")
        assert _status(c, page.locator("#secret").inner_text(), "/api/v1/hosts") == 200
        assert _status(c, vera, "/api/v1/hosts") == 401
        audit = c.cli("audit", "verify").stdout
        assert "audit log intact" in audit
    finally:
        c.stop()
