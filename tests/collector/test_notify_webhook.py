"""Webhook senders against a real HTTP server on loopback: formats, signatures, robot error answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from collector.notify.base import Outgoing, PermanentError, TransientError
from collector.notify.config import parse_notifications
from collector.notify.messages import render
from collector.notify.webhook import WebhookSender
from tests.collector.notify_receivers import hook_sink_fixture  # noqa: F401 (fixture)

AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
TICKET = {"id": 9, "site": "central-hospital", "host": "pacs-01", "check": "disk", "item": "/data",
          "severity": 2, "state": "open", "summary": "磁盘使用率 96 %", "opened_at": AT.isoformat()}
SECRET = "SECd41d8cd98f00b204e9800998ecf8427e"


def _sender(kind: str, url: str, **extra: object) -> WebhookSender:
    config, problems = parse_notifications({"channels": {"c": {"type": kind, "url": url, **extra}}})
    assert problems == [] and config is not None
    return WebhookSender(config.channels["c"])


def _out(event: str = "opened", language: str = "zh") -> Outgoing:
    return Outgoing(key="e1.c", event_uid="e1", event=event, at=AT, ticket=TICKET, language=language,
                    message=render(event, TICKET, at=AT, language=language, timezone="Asia/Shanghai"))


def test_generic_webhook_posts_event_json_with_idempotency_key_when_sent(hook_sink):
    _sender("webhook", hook_sink.url("/hook"), token="tok-123").send(_out())
    (hit,) = hook_sink.on("/hook")
    assert hit.headers["Idempotency-Key"] == "e1.c"
    assert hit.headers["Authorization"] == "Bearer tok-123"
    assert hit.body["event_id"] == "e1" and hit.body["event"] == "opened"
    assert hit.body["ticket"]["summary"] == "磁盘使用率 96 %"
    assert hit.body["at"] == "2026-11-23T01:30:00+00:00" and hit.body["language"] == "zh"


def test_wecom_gets_markdown_message_when_sent(hook_sink):
    _sender("wecom", hook_sink.url("/cgi-bin/webhook/send?key=k-1")).send(_out())
    (hit,) = hook_sink.on("/cgi-bin/webhook/send")
    assert hit.query == {"key": ["k-1"]}
    assert set(hit.body) == {"msgtype", "markdown"} and hit.body["msgtype"] == "markdown"
    assert "磁盘使用率 96 %" in hit.body["markdown"]["content"]
    assert len(hit.body["markdown"]["content"].encode()) <= 4096


def test_dingtalk_signature_verifies_when_secret_is_set(hook_sink):
    _sender("dingtalk", hook_sink.url("/robot/send?access_token=t-1"), secret=SECRET).send(_out())
    (hit,) = hook_sink.on("/robot/send")
    assert hit.body["msgtype"] == "markdown"
    assert hit.body["markdown"]["title"].startswith("[Wardround] 新故障单 #9")
    assert "磁盘使用率" in hit.body["markdown"]["text"]
    ts = hit.query["timestamp"][0]  # parse_qs already URL-decoded the sign
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert hit.query["sign"] == [expected] and hit.query["access_token"] == ["t-1"]
    assert abs(int(ts) / 1000 - datetime.now(UTC).timestamp()) < 60


def test_feishu_signature_verifies_when_secret_is_set(hook_sink):
    _sender("feishu", hook_sink.url("/open-apis/bot/v2/hook/tok"), secret=SECRET).send(_out(language="en"))
    (hit,) = hook_sink.on("/open-apis/bot/v2/hook/tok")
    assert hit.body["msg_type"] == "text" and "New ticket #9" in hit.body["content"]["text"]
    ts = hit.body["timestamp"]
    expected = base64.b64encode(hmac.new(f"{ts}\n{SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
    assert hit.body["sign"] == expected
    assert abs(int(ts) - datetime.now(UTC).timestamp()) < 60


def test_feishu_gets_interactive_card_when_card_is_chosen(hook_sink):
    _sender("feishu", hook_sink.url("/open-apis/bot/v2/hook/tok"), card=True).send(_out("resolved"))
    (hit,) = hook_sink.on("/open-apis/bot/v2/hook/tok")
    assert hit.body["msg_type"] == "interactive" and "sign" not in hit.body
    card = hit.body["card"]
    assert card["header"]["template"] == "green"
    assert card["header"]["title"]["content"].startswith("[Wardround] 故障已恢复 #9")
    assert card["elements"][0]["text"]["tag"] == "lark_md"


@pytest.mark.parametrize(("kind", "answer"), [
    ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}),
    ("dingtalk", {"errcode": 310000, "errmsg": "sign not match"}),
    ("feishu", {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}),
    ("feishu", {"StatusCode": 9499, "StatusMessage": "Bad Request"}),
])
def test_robot_refusal_is_transient_failure_when_answered_200_with_error_code(hook_sink, kind, answer):
    hook_sink.answer = lambda hit: (200, answer, {})
    with pytest.raises(TransientError, match=f"the {kind} robot refused the message: code"):
        _sender(kind, hook_sink.url("/r?key=very-secret-key")).send(_out())


def test_robot_answer_is_failure_when_not_json(hook_sink):
    hook_sink.answer = lambda hit: (200, "<html>proxy login</html>", {})
    with pytest.raises(TransientError, match="not JSON|unexpected JSON"):
        _sender("wecom", hook_sink.url("/r?key=k")).send(_out())


@pytest.mark.parametrize(("status", "error"), [
    (500, TransientError), (503, TransientError), (429, TransientError), (408, TransientError),
    (400, PermanentError), (404, PermanentError), (410, PermanentError),
])
def test_http_status_decides_transient_or_permanent_when_not_2xx(hook_sink, status, error):
    hook_sink.answer = lambda hit: (status, {"error": "x"}, {"Retry-After": "120"})
    with pytest.raises(error, match=f"HTTP {status}") as info:
        _sender("webhook", hook_sink.url("/hook")).send(_out())
    if status == 429:
        assert info.value.retry_after_s == 120


def test_errors_never_show_the_robot_key_when_send_fails(hook_sink):
    url = hook_sink.url("/cgi-bin/webhook/send?key=693a91f6-SECRET-KEY")
    hook_sink.answer = lambda hit: (404, {}, {})
    with pytest.raises(PermanentError) as info:
        _sender("wecom", url).send(_out())
    assert "SECRET-KEY" not in str(info.value) and f"127.0.0.1:{hook_sink.port}/***" in str(info.value)
    hook_sink.stop()
    with pytest.raises(TransientError) as down:
        _sender("feishu", hook_sink.url("/open-apis/bot/v2/hook/SECRET-TOKEN")).send(_out())
    assert "SECRET-TOKEN" not in str(down.value) and "cannot reach" in str(down.value)


def test_redirect_is_not_followed_when_receiver_answers_3xx(hook_sink):
    hook_sink.answer = lambda hit: (307, {}, {"Location": "http://127.0.0.1:9/elsewhere"})
    with pytest.raises(PermanentError, match="HTTP 307"):
        _sender("webhook", hook_sink.url("/hook")).send(_out())
    assert len(hook_sink.hits) == 1

