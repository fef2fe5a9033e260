"""The collector's rarer refusals of a request an agent sends (no, a malformed or an unknown token: 401; a token
where an enrolment key belongs: 403; an unsupported ``Content-Encoding``: 415; a body that is not valid gzip: 422;
a database that cannot answer: 503) carry a message key beside the English
``detail`` (collector.errors.said_body): an agent says them in its reader's language (agent.http.said_reason),
and the detail is the English text as it always was.  A record's PDF a collector cannot make is said on the
error page in the page's language."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.auth import create_agent_token, create_user
from collector.config import Settings
from collector.store import fleet as fleet_store
from collector.store.db import make_engine, writing
from tests.agent.helpers import said_both
from tests.collector.conftest import HOST, SITE, make_batch


@pytest.fixture
def agent_client(sqlite_template: Path, tmp_path: Path) -> Any:
    path = tmp_path / "wardround.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    token = create_agent_token(engine, site=SITE, host=HOST)
    with TestClient(create_app(Settings(db_url=f"sqlite:///{path}"), engine=engine)) as client:
        yield client, {"Authorization": f"Bearer {token}"}
    engine.dispose()


GOOD = gzip.compress(b'{"results": []}')


@pytest.mark.parametrize(("encoding", "body", "status", "english", "chinese"), [
    ("br", b"{}", 415, "Content-Encoding 'br' is not supported: send gzip or no encoding",
     "不支持 Content-Encoding 'br'：请用 gzip 压缩或不压缩发送"),
    ("gzip", b"not gzip at all", 422, "body is not valid gzip: Error -3 while decompressing data: incorrect header "
     "check", "请求体不是有效的 gzip：Error -3 while decompressing data: incorrect header check"),
    ("gzip", GOOD[:-6], 422, "body is not valid gzip: the stream is truncated", "请求体不是有效的 gzip：数据流不完整"),
    ("gzip", GOOD + b"more", 422, "body is not valid gzip: data after the stream",
     "请求体不是有效的 gzip：数据流之后还有多余的数据"),
], ids=["415", "not-gzip", "truncated", "trailing"])
def test_a_body_the_collector_cannot_decode_is_refused_in_the_agents_readers_language(
        agent_client, monkeypatch, encoding, body, status, english, chinese):
    client, headers = agent_client
    r = client.post("/api/v1/results", content=body, headers={**headers, "Content-Encoding": encoding,
                                                                "Content-Type": "application/json"})
    assert r.status_code == status and r.json()["detail"] == english  # the English detail as it always was
    assert said_both(r.json(), monkeypatch) == (chinese, english)


def test_a_database_that_cannot_answer_is_a_503_said_in_the_agents_readers_language(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/missing-dir/wardround.db"
    with TestClient(create_app(Settings(db_url=url)), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/results", json={"results": make_batch(1)},
                        headers={"Authorization": "Bearer wra_some"})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json()["detail"] == "the database is unavailable; retry later"
    assert said_both(r.json(), monkeypatch) == ("数据库暂时不可用；请稍后重试",
                                                "the database is unavailable; retry later")


@pytest.mark.parametrize(("method", "path", "authorization", "status", "english", "chinese"), [
    ("GET", "/api/v1/agent/config", None, 401, "missing token: send Authorization: Bearer <token>",
     "缺少令牌：请以 Authorization: Bearer 发送令牌"),
    ("GET", "/api/v1/agent/config", "Basic eDp5", 401, "expected Authorization: Bearer <token>",
     "应为 Authorization: Bearer <令牌>"),
    ("GET", "/api/v1/agent/config", "Bearer wra_nobody", 401, "unknown or revoked token", "令牌未知或已吊销"),
    ("POST", "/api/v1/enrol", None, 401, "missing enrolment key: send Authorization: Bearer <key>",
     "缺少注册密钥：请以 Authorization: Bearer 发送注册密钥"),
    ("POST", "/api/v1/enrol", "agent", 403, "this endpoint takes an enrolment key (wre_...), not a token",
     "此接口需要注册密钥（wre_...），而不是令牌"),
    ("GET", "/api/v1/agent/token", "agent", 404, "this token was not rotated: nothing to fetch",
     "此令牌没有轮换：没有可取的新令牌"),
    ("GET", "/openapi.json", None, 401, "the API description needs a person's token (or log in at /login)",
     "API 说明需要人员令牌（或在 /login 登录）"),
    ("GET", "/openapi.json", "agent", 403, "the API description is for people's tokens", "API 说明只对人员令牌开放"),
], ids=["no-token", "not-bearer", "unknown-token", "no-enrolment-key", "token-for-enrolment-key", "not-rotated",
        "api-description-no-token", "api-description-agent-token"])
def test_a_token_the_collector_cannot_take_is_refused_in_the_agents_readers_language(
        agent_client, monkeypatch, method, path, authorization, status, english, chinese):
    client, headers = agent_client
    sent = headers if authorization == "agent" else {"Authorization": authorization} if authorization else {}
    r = client.request(method, path, headers=sent, json={} if method == "POST" else None)
    assert r.status_code == status and r.json()["detail"] == english  # the English detail as it always was
    assert said_both(r.json(), monkeypatch) == (chinese, english)


@pytest.mark.parametrize(("body", "english", "chinese"), [
    (b"{nope", "body is not valid JSON: ", "请求体不是有效的 JSON："),  # and the JSON parser's own words
    (b"[]", 'body: expected an object {"results": [...]}', '请求体：应为对象 {"results": [...]}'),
    (b'{"results": {}}', "results: expected a list of check results", "results：应为检查结果的列表"),
], ids=["not-json", "not-an-object", "results-not-a-list"])
def test_a_batch_that_is_no_batch_is_refused_in_the_agents_readers_language(agent_client, monkeypatch, body,
                                                                            english, chinese):
    client, headers = agent_client
    r = client.post("/api/v1/results", content=body, headers={**headers, "Content-Type": "application/json"})
    why = r.json()["detail"][len(english):] if english.endswith(": ") else ""  # orjson's reason, as it wrote it
    assert r.status_code == 422 and r.json()["detail"] == english + why  # the English detail as it always was
    assert said_both(r.json(), monkeypatch) == (chinese + why, english + why)


def test_a_config_fetch_awaiting_approval_is_refused_in_the_agents_readers_language(
        sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wardround.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with writing(engine) as conn:  # enrolled with a key that needs approval, not approved yet
        fleet_store.add_host(conn, {"site": SITE, "host": HOST, "roles": "[]", "facts": "{}",
                                    "enrolled_at": datetime.now(UTC), "enrolled_via": "key 1", "approved_at": None,
                                    "retired_at": None})
    token = create_agent_token(engine, site=SITE, host=HOST)
    with TestClient(create_app(Settings(db_url=f"sqlite:///{path}"), engine=engine)) as client:
        r = client.get("/api/v1/agent/config", headers={"Authorization": f"Bearer {token}"})
    engine.dispose()
    command = f"wardround-collector host approve --site {SITE} --host {HOST}"
    english = f"awaiting approval: {SITE}/{HOST} enrolled with a key that needs approval ({command})"
    assert r.status_code == 403 and r.json()["detail"] == english  # the English detail as it always was
    chinese = f"等待批准：{SITE}/{HOST} 用需要批准的注册密钥注册（{command}）"
    assert said_both(r.json(), monkeypatch) == (chinese, english)


@pytest.mark.parametrize("agent", [False, True], ids=["no-token", "agent-token"])
def test_the_api_descriptions_page_refused_says_why_in_the_pages_language(agent_client, agent):
    # Swagger UI (/docs) without a person: the error page's details were the English detail on a Chinese page
    client, headers = agent_client
    said = {"zh-CN": "API 说明只对人员令牌开放" if agent else "API 说明需要人员令牌（或在 /login 登录）",
            "en": "the API description is for people&#39;s tokens" if agent
            else "the API description needs a person&#39;s token (or log in at /login)"}
    for lang, words in said.items():
        r = client.get("/docs", headers={**(headers if agent else {}), "Accept-Language": lang})
        assert r.status_code == (403 if agent else 401)
        assert f"{'详情' if lang == 'zh-CN' else 'Details'}: {words}</p>" in r.text, r.text


@pytest.mark.parametrize(("path", "doc", "english", "chinese"), [
    ("/api/v1/records", {"kind": "daily"}, "missing field(s): site", "缺少字段：site"),
    ("/api/v1/records", {"site": SITE, "kind": "daily", "when": 1}, "unknown field(s): when", "未知字段：when"),
    ("/api/v1/records", {"site": SITE, "kind": "daily", "date": "2026-12-01", "period": "2026-12-01"},
     "give period or date, not both", "period 和 date 只能给出其一"),
    ("/api/v1/records/1/sign", {"signer": "erin"}, "missing field(s): role", "缺少字段：role"),
    ("/api/v1/records/1/sign", {"signer": "erin", "role": "x", "by": 1}, "unknown field(s): by", "未知字段：by"),
    ("/api/v1/tickets", {"site": SITE}, "missing field(s): host, severity, summary, reported_via",
     "缺少字段：host, severity, summary, reported_via"),
    ("/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 3, "summary": "s", "reported_via": "phone", "x": 1},
     "unknown field(s): x", "未知字段：x"),
    ("/api/v1/tickets/1/followup", {"score": 5}, "unknown field(s): score (expected satisfaction, contact, note)",
     "未知字段：score（可用字段：satisfaction, contact, note）"),
], ids=["record-missing", "record-unknown", "record-period-and-date", "sign-missing", "sign-unknown",
        "ticket-missing", "ticket-unknown", "followup-unknown"])
def test_a_records_or_tickets_body_with_wrong_fields_is_refused_in_the_readers_language(
        sqlite_template, tmp_path, monkeypatch, path, doc, english, chinese):
    # API texts for integrators: the English detail as it always was, a message key beside it
    shutil.copyfile(sqlite_template, tmp_path / "wardround.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'wardround.db'}")
    token = create_user(engine, name="erin", role="engineer")
    with TestClient(create_app(Settings(db_url=f"sqlite:///{tmp_path / 'wardround.db'}"), engine=engine)) as client:
        r = client.post(path, json=doc, headers={"Authorization": f"Bearer {token}"})
    engine.dispose()
    assert r.status_code == 422 and r.json()["detail"] == english, r.text
    assert said_both(r.json(), monkeypatch) == (chinese, english)
