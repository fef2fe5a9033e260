"""The records', the service archive's and the admin page's refusals on pages read in the reader's language (issue 14).

Each refusal a page shows (a form's inline error, the error page's detail) is posted or fetched with
``?lang=zh_CN`` and ``?lang=en``: the Chinese one holds no English prose (what the person typed,
API field names and the kinds' names aside), the English one no Chinese and the API's text."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from collector.archive import FIELDS as ARCHIVE_FIELDS
from collector.archive import KINDS as ARCHIVE_KINDS
from collector.auth import create_user
from collector.records.model import KINDS as RECORD_KINDS
from tests.collector.conftest import SITE, make_result

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the words, not the database

# identifiers a refusal names: API field names, languages, roles, kinds (their lists are cut out whole)
ALLOWED = {"ISO", "en", "engineer", "customer", "from", "to", "date", "period", "at", "T"}
LISTS = ("zh_CN", ", ".join(ARCHIVE_FIELDS), ", ".join(ARCHIVE_KINDS), ", ".join(RECORD_KINDS))
_FORM_ERROR = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)  # a form's inline error
_DETAIL = re.compile(r'<p class="hint">[^:<]*: (.*?)</p>', re.S)  # the error page's detail


def _refusal(page: str, error_page: bool) -> str:
    shown = (_DETAIL if error_page else _FORM_ERROR).findall(page)
    assert len(shown) == 1, page[:3000]
    return html.unescape(shown[0])


def _english(text: str, typed: tuple[str, ...]) -> set[str]:
    for cut in sorted((*LISTS, *COMMANDS, *typed), key=len, reverse=True):
        text = text.replace(cut, " ")
    return {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, page[:2000]
    return found.group(1)


ARCHIVE_FORMS = [  # (the form, what the person typed, words the English refusal holds)
    ({"site": "bad site!", "host": "a b", "kind": "repair", "at": "1999-01-01T00:00:00+00:00", "action": "",
      "phenomenon": "x" * 4001, "ticket": "abc", "corrects": "0", "colour": "red"},
     ("bad site!", "a b", "repair", "1999-01-01T00:00:00+00:00", "abc", "colour", "red"),
     ("unknown field(s)", "site: expected", "host: expected", "kind: expected", "at: expected a time",
      "phenomenon: expected text", "action: required", "ticket: expected a ticket id", "corrects: expected")),
    ({"site": SITE, "kind": "upgrade", "at": "2999-01-01T00:00:00+00:00", "phenomenon": "p", "action": "a"},
     (SITE, "2999-01-01T00:00:00Z"), ("is in the future", "version: an upgrade")),
    ({"site": SITE, "kind": "visit", "at": "yesterday", "phenomenon": "p", "action": "a"},
     (SITE, "yesterday"), ("at: expected an ISO-8601 time",)),
    ({"site": SITE, "kind": "visit", "at": "2026-11-22T14:30:00+08:00", "phenomenon": "p", "action": "a",
      "ticket": "999999"}, (SITE,), ("ticket: no ticket 999999",)),
    ({"site": SITE, "kind": "visit", "at": "2026-11-22T14:30:00+08:00", "phenomenon": "p", "action": "a",
      "corrects": "999999"}, (SITE,), ("corrects: no archive entry 999999",)),
]
RECORD_FORMS = [
    ({"site": "bad site!", "kind": "daily"}, ("bad site!",), ("site: expected a site name",)),
    ({"site": SITE, "kind": "hourly"}, ("hourly",), ("kind: expected one of",)),
    ({"site": SITE, "kind": "daily", "language": "fr"}, ("fr",), ("language: expected zh_CN or en",)),
    ({"site": SITE, "kind": "daily", "date": "2026-13-01"}, ("2026-13-01",), ("expected a date like",)),
    ({"site": SITE, "kind": "daily", "date": "1999-01-01"}, ("1999-01-01",), ("expected a day between",)),
    ({"site": SITE, "kind": "daily", "date": "2999-01-01"}, (), ("it has not started yet",)),
    ({"site": "nowhere", "kind": "daily"}, ("nowhere",), ("has no hosts and no policy",)),
]
ADMIN_FORMS = [  # (action, the form, what the person typed, words the English refusal holds)
    ("approve", {"site": SITE, "host": "nohost"}, (SITE, "nohost"), ("no enrolled host",)),
    ("retire", {"site": SITE, "host": "nohost"}, (SITE, "nohost"), ("no host",)),
    ("revoke", {"site": SITE, "host": "nohost"}, (SITE, "nohost"), ("no live agent token",)),
    ("rotate", {"site": SITE, "host": "nohost", "grace": "forever"}, ("forever",), ("duration: expected",)),
    ("rotate", {"site": SITE, "host": "nohost", "grace": "200d"}, (), ("grace: expected 0s to 90d",)),
    ("rotate", {"site": SITE, "host": "nohost", "grace": "1h"}, (SITE, "nohost"), ("to rotate",)),
    ("key", {"site": SITE, "uses": "x"}, (), ("uses: expected a whole number",)),
    ("key", {"site": SITE, "uses": "0"}, (), ("uses: expected 1 to",)),
    ("key", {"site": "bad site!"}, ("bad site!",), ("site: expected",)),
    ("key", {"site": SITE, "expires": "1s"}, (), ("expires: expected 1m",)),
    ("key", {"site": SITE, "approve": "maybe"}, ("maybe",), ("approve: expected auto or manual",)),
    ("key", {"site": SITE, "roles": "bad role!"}, ("bad role!", "role"), ("expected role names",)),
    ("key-revoke", {"id": "x"}, (), ("id: expected a key number",)),
    ("key-revoke", {"id": "999999"}, (), ("no enrolment key 999999",)),
    ("disable", {"name": "ada"}, (), ("does not disable themself",)),
    ("disable", {"name": "nobody"}, ("nobody",), ("no person named",)),
    ("user-token", {"name": "nobody"}, ("nobody",), ("no person named",)),
]
# the commands a refusal points to are identifiers too
COMMANDS = ("wardround-collector enrol-key list", "wardround-collector token list", "wardround-collector user list",
            "wardround-collector host list", "token create", "auto", "manual", "30m", "24h", "7d")
SIGN_FORMS = [
    ({"signer": "", "role": "engineer"}, (), ("signer: expected a name",)),
    ({"signer": "li", "role": "boss"}, ("li", "boss"), ("role: expected engineer or customer",)),
    ({"signer": "li", "role": "customer", "note": "n" * 5000}, ("li",), ("note: expected text",)),
]


def _check(page: str, lang: str, typed: tuple[str, ...], english: tuple[str, ...], error_page: bool = False) -> None:
    said = _refusal(page, error_page)
    if lang == "zh_CN":
        assert re.search(r"[\u4e00-\u9fff]", said) and not _english(said, typed), said
    else:
        assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", said) and all(w in said for w in english), said


def test_records_archive_and_admin_refusals_on_pages_read_in_the_readers_language(client, app, engine,
                                                                                   agent_headers):
    engineer = create_user(engine, name="erin", role="engineer")
    assert client.post("/api/v1/results", json={"results": [make_result()]}, headers=agent_headers).status_code == 200
    rid = client.post("/api/v1/records", json={"site": SITE, "kind": "daily", "language": "en"},
                      headers={"Authorization": f"Bearer {engineer}"}).json()["id"]
    client.post("/login", data={"token": engineer, "next": "/hosts"}, follow_redirects=False)
    csrf = _csrf(client.get("/archive/new").text)
    admin = TestClient(app)
    admin.post("/login", data={"token": create_user(engine, name="ada", role="admin"), "next": "/hosts"},
               follow_redirects=False)
    admin_csrf = _csrf(admin.get("/admin").text)
    for lang in ("zh_CN", "en"):
        for form, typed, english in ARCHIVE_FORMS:
            r = client.post(f"/archive?lang={lang}", data={**form, "csrf": csrf})
            assert r.status_code in (404, 409, 422), r.text[:500]
            _check(r.text, lang, typed, english)
        for form, typed, english in RECORD_FORMS:
            r = client.post(f"/records?lang={lang}", data={**form, "csrf": csrf})
            assert r.status_code == 422, r.text[:500]
            _check(r.text, lang, typed, english)
        for form, typed, english in SIGN_FORMS:
            r = client.post(f"/records/{rid}/sign?lang={lang}", data={**form, "csrf": csrf})
            assert r.status_code == 422, r.text[:500]
            _check(r.text, lang, typed, english)
        for action, form, typed, english in ADMIN_FORMS:
            r = admin.post(f"/admin/{action}?lang={lang}", data={**form, "csrf": admin_csrf})
            assert r.status_code in (404, 422), (action, form, r.text[:500])
            _check(r.text, lang, typed, english)
        r = client.get(f"/records/999999?lang={lang}")
        assert r.status_code == 404
        _check(r.text, lang, (), ("no record 999999",), error_page=True)
