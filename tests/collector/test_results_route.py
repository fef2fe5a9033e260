"""``POST /api/v1/results`` driven message by message: a body that comes whole with its headers takes one trip to
a worker thread for token and ingest; any other is read as before, after the token.  The answers and their order
(401/403 before 415/413/400) are the same either way, and an unknown token never makes the collector read (or
prompt with ``100 Continue``) more of a body than the first message the server holds already."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.app import create_app
from collector.auth import create_agent_token, create_user
from collector.config import Settings
from collector.store.db import make_engine
from tests.collector.conftest import HOST, SITE, make_batch

CAP = 4096


@pytest.fixture
def sqlite_app(sqlite_template: Path, tmp_path: Path) -> Any:
    path = tmp_path / "wardround.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield create_app(Settings(db_url=f"sqlite:///{path}", max_body_bytes=CAP), engine=engine), engine
    engine.dispose()


def _post(app: Any, messages: list[dict[str, Any]], headers: dict[str, str],
          root_path: str = "") -> tuple[int, dict[str, str], Any, int]:
    """Status, headers, JSON body of the answer, and how many messages the app asked for.  Under a ``root_path``
    the request takes FastAPI's route (``post_results``), else the front door's (``answer_batch``)."""
    return asyncio.run(asyncio.wait_for(_call(app, messages, headers, root_path), 20))


def _post_at_once(app: Any, bodies: list[bytes], headers: dict[str, str]) -> list[tuple[int, dict[str, str], Any, int]]:
    """:func:`_post` of each body, all at once on one event loop (as uvicorn serves several agents)."""
    async def all_of_them() -> list[tuple[int, dict[str, str], Any, int]]:
        return list(await asyncio.gather(*(_call(app, [{"type": "http.request", "body": b, "more_body": False}],
                                                 headers, "") for b in bodies)))
    return asyncio.run(asyncio.wait_for(all_of_them(), 30))


async def _call(app: Any, messages: list[dict[str, Any]], headers: dict[str, str],
                root_path: str) -> tuple[int, dict[str, str], Any, int]:
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked <= len(messages):
            return messages[asked - 1]
        await asyncio.sleep(30)  # nothing more comes
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": root_path + "/api/v1/results", "raw_path": b"/api/v1/results", "root_path": root_path,
             "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080), "state": {}}
    await app(scope, receive, send)
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, orjson.loads(body), asked


def _batch(n: int = 3) -> bytes:
    return orjson.dumps({"results": make_batch(n)})


@pytest.mark.parametrize("root_path", ["", "/behind"], ids=["front door", "FastAPI route"])
def test_batch_is_stored_when_its_body_comes_in_two_messages(sqlite_app, root_path):
    app, engine = sqlite_app
    token = create_agent_token(engine, site=SITE, host=HOST)
    body = _batch()
    status, _, answer, asked = _post(app, [{"type": "http.request", "body": body[:100], "more_body": True},
                                           {"type": "http.request", "body": body[100:], "more_body": False}],
                                     {"authorization": f"Bearer {token}"}, root_path)
    assert status == 200 and len(answer["accepted"]) == 3 and asked == 2


@pytest.mark.parametrize("root_path", ["", "/behind"], ids=["front door", "FastAPI route"])
def test_batch_is_stored_when_its_body_comes_whole(sqlite_app, root_path):
    app, engine = sqlite_app
    token = create_agent_token(engine, site=SITE, host=HOST)
    status, headers, answer, asked = _post(app, [{"type": "http.request", "body": _batch(), "more_body": False}],
                                           {"authorization": f"Bearer {token}"}, root_path)
    assert status == 200 and len(answer["accepted"]) == 3 and asked == 1
    assert headers["content-type"] == "application/json" and set(answer) == {"accepted", "duplicates", "server_time"}


def test_unknown_token_is_401_before_the_rest_of_a_large_body_is_read(sqlite_app):
    app, _ = sqlite_app
    first = {"type": "http.request", "body": b" " * 3000, "more_body": True}
    status, headers, answer, asked = _post(app, [first, first, first], {"authorization": "Bearer wra_nobody"})
    assert (status, answer["detail"], answer["message"]["key"], headers["www-authenticate"]) == (
        401, "unknown or revoked token", "cli.refusal.unknown_token", "Bearer")
    assert asked == 1  # the first message only (uvicorn holds it already); 413 would need the rest


@pytest.mark.parametrize(("authorization", "english", "chinese"), [
    ("Bearer wra_nobody", "unknown or revoked token", "令牌未知或已吊销"),
    ("Basic d3JhOng=", "expected Authorization: Bearer <token>", "应为 Authorization: Bearer <令牌>"),
    (None, "missing token: send Authorization: Bearer <token>", "缺少令牌：请以 Authorization: Bearer 发送令牌"),
])
def test_a_refused_token_is_said_in_the_agents_readers_language(sqlite_app, monkeypatch, authorization, english,
                                                                 chinese):
    # a Chinese reader of `wardround-agent once --push` with a wrong token read "HTTP 401：unknown or revoked
    # token": the 401 carries its message key beside the English detail, as the 403s do
    from agent.http import said_reason
    from checks.messages.reader import told

    app, _ = sqlite_app
    status, _, answer, _ = _post(app, [{"type": "http.request", "body": b"{}", "more_body": False}],
                                 {"authorization": authorization} if authorization else {})
    assert status == 401 and answer["detail"] == english
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    assert told(said_reason(answer)) == chinese
    monkeypatch.setenv("WARDROUND_LANG", "en")
    assert told(said_reason(answer)) == english


def test_unknown_token_is_401_without_asking_for_a_body_when_the_client_expects_100_continue(sqlite_app):
    app, _ = sqlite_app
    status, _, answer, asked = _post(app, [{"type": "http.request", "body": _batch(), "more_body": False}],
                                     {"authorization": "Bearer wra_nobody", "expect": "100-continue"})
    assert (status, asked) == (401, 0)


@pytest.mark.parametrize("more_body", [False, True], ids=["whole", "in two messages"])
def test_person_token_is_403_before_the_body_counts(sqlite_app, more_body):
    app, engine = sqlite_app
    token = create_user(engine, name="vera", role="viewer")
    messages = [{"type": "http.request", "body": b"not json" * 1000, "more_body": more_body},
                {"type": "http.request", "body": b"", "more_body": False}]
    status, _, answer, _ = _post(app, messages, {"authorization": f"Bearer {token}", "content-encoding": "br"})
    assert (status, answer["detail"], answer["message"]["key"]) == (
        403, "this endpoint takes an agent token", "cli.refusal.agent_token")


@pytest.mark.parametrize("more_body", [False, True], ids=["whole", "in two messages"])
def test_body_over_the_cap_without_a_length_is_413_after_a_good_token(sqlite_app, more_body):
    app, engine = sqlite_app
    token = create_agent_token(engine, site=SITE, host=HOST)
    messages = [{"type": "http.request", "body": b" " * (CAP + 1), "more_body": more_body},
                {"type": "http.request", "body": b"", "more_body": False}]
    status, _, answer, _ = _post(app, messages, {"authorization": f"Bearer {token}"})
    assert (status, answer["detail"], answer["message"]["key"]) == (
        413, f"body larger than {CAP} bytes: send smaller batches", "cli.refusal.too_large")


def test_client_gone_before_its_body_is_400(sqlite_app):
    app, engine = sqlite_app
    token = create_agent_token(engine, site=SITE, host=HOST)
    status, _, answer, _ = _post(app, [{"type": "http.disconnect"}], {"authorization": f"Bearer {token}"})
    assert (status, answer) == (400, {"detail": "the client went away while sending"})


def test_at_most_ingest_slots_batches_are_ingested_at_once_and_one_waiting_too_long_gets_503(sqlite_app, monkeypatch):
    from collector.api import RETRY_AFTER_S, results

    app, engine = sqlite_app
    token = create_agent_token(engine, site=SITE, host=HOST)
    monkeypatch.setattr(results, "INGEST_SLOTS", 2)
    inside, most = 0, 0
    count = threading.Lock()
    ingest = results._check_and_accept

    def slow(*args: Any) -> Any:  # an ingest that takes a while, counting how many run at once
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.3)
        try:
            return ingest(*args)
        finally:
            with count:
                inside -= 1

    monkeypatch.setattr(results, "_check_and_accept", slow)
    auth = {"authorization": f"Bearer {token}"}
    answers = _post_at_once(app, [_batch(2) for _ in range(6)], auth)  # each waits its turn: all stored
    assert [a[0] for a in answers] == [200] * 6 and most == 2
    assert sum(len(a[2]["accepted"]) for a in answers) == 12
    monkeypatch.setattr(results, "SLOT_WAIT_S", 0.1)  # shorter than one ingest: the two beyond the slots are 503
    answers = _post_at_once(app, [_batch(2) for _ in range(4)], auth)
    assert sorted(a[0] for a in answers) == [200, 200, 503, 503] and most == 2
    for status, headers, answer, _ in answers:
        if status == 503:
            assert headers["retry-after"] == RETRY_AFTER_S
            assert answer["detail"].startswith("the collector is busy storing other batches"), answer
