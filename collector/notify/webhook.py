"""Webhook senders: generic JSON and the WeCom, DingTalk and Feishu group robots.

Formats and signatures (checked against the vendors' documentation as quoted
by public guides and client libraries):

``webhook``   POST of our own JSON (``event_id``, ``delivery_key``, ``event``,
              ``at``, ``language``, ``title``, ``text``, ``ticket``) with the
              header ``Idempotency-Key: <delivery_key>``; the key is the same
              on every retry of one delivery, so a receiver can drop repeats.
              Optional ``Authorization: Bearer <token>``.
``wecom``     企业微信群机器人: ``{"msgtype": "markdown", "markdown": {"content": ...}}``
              to ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY``;
              content at most 4096 bytes of UTF-8 (each robot's limit: ``LIMITS``).  Answer ``{"errcode": 0,
              "errmsg": "ok"}``.  (WeCom's "群机器人配置说明", developer.work.weixin.qq.com,
              as quoted in cnblogs.com/tiandi/p/17768525.html and
              blog.csdn.net/liuxingxing_star/article/details/128659150.)
``dingtalk``  钉钉自定义机器人: ``{"msgtype": "markdown", "markdown": {"title": ...,
              "text": ...}}`` to ``https://oapi.dingtalk.com/robot/send?access_token=T``;
              with 加签 the query gains ``timestamp`` (ms) and ``sign`` =
              urlencode(base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}"))).
              Answer ``{"errcode": 0, "errmsg": "ok"}``.
              (open.dingtalk.com/document/group/custom-robot-access, whose Python
              sample is reproduced in blog.csdn.net/weixin_31560545/article/details/116255918.)
``feishu``    飞书/Lark 自定义机器人: ``{"msg_type": "text", "content": {"text": ...}}``
              or, with ``card: true``, ``{"msg_type": "interactive", "card": {...}}``
              to ``https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN``; with 签名校验
              the body gains ``timestamp`` (seconds, string) and ``sign`` =
              base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=b"")) -- note the
              string to sign is the *key* and the message is empty.  Answer
              ``{"code": 0, "msg": "success"}`` (older: ``{"StatusCode": 0}``).
              (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot, as used
              by the open-lark crate, docs.rs/open-lark custom_bot.rs, and
              github.com/electricbubble/feishu-bot-api api.go.)

The robots answer HTTP 200 even when they refuse a message (bad key, bad
signature, keyword missing, rate limit), with ``errcode``/``code`` != 0: that
is a failure, retried as transient (an operator can fix the robot's settings
within the max age; the reason is logged and kept on the delivery).

HTTP outcomes: 2xx sent (robots: if the code is 0); 408 and 5xx transient;
429 rate-limited (``Retry-After`` honoured); a robot's rate-limit code
(DingTalk 410100/130101, WeCom 45009, Feishu 9499/11232, whatever the HTTP
status) rate-limited (:data:`RATE_LIMIT_CODES`: how long every collector then
leaves that robot alone); other 4xx and 3xx (we never turn a POST into a
GET by following redirects) permanent; connection errors and timeouts
transient.  URLs are never shown unmasked: robot keys live in them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote_plus

from collector import __version__
from collector.notify.base import Outgoing, PermanentError, RateLimited, TransientError
from collector.notify.config import ROBOT_TYPES, Channel, mask_url
from collector.notify.messages import LIMITS, Message, clip_utf8

__all__ = ["WebhookSender", "dingtalk_sign", "feishu_sign", "payload"]

MAX_ANSWER_BYTES = 64 * 1024
RATE_LIMIT_PAUSE_S = 60.0  # after a refusal for sending too much, when the receiver does not say how long
# The robots' "too many messages" answers: code -> how long every collector stops sending to that robot.
RATE_LIMIT_CODES: Mapping[str, Mapping[Any, float]] = {
    # 410100 发送速度太快而限流 and the older 130101 "send too fast, exceed 20 times per minute":
    # the robot is blocked for 10 minutes.
    "dingtalk": {410100: 600.0, 130101: 600.0},
    "wecom": {45009: RATE_LIMIT_PAUSE_S},  # api freq out of limit
    # 11232 frequency limited; 9499 is Feishu's generic "Bad Request" too, so it counts only as
    # {"code": 9499, "msg": "too many request"} (sent with HTTP 400, github.com/ccfos/nightingale/issues/1437)
    "feishu": {11232: RATE_LIMIT_PAUSE_S, 9499: RATE_LIMIT_PAUSE_S},
}
_ONLY_WITH_TEXT = {("feishu", 9499): "too many request"}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` query value (already URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign`` body value."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _utf8_len(text: str) -> int:
    return len(text.encode())


def _body_len(body: Mapping[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False).encode())


def payload(channel: Channel, out: Outgoing, *,
            now: Callable[[], float] = time.time) -> tuple[str, dict[str, Any]]:
    """The URL (with any signature) and the JSON body for ``out`` on ``channel``.

    A robot's message is first fitted to its limit (:data:`collector.notify.messages.LIMITS`):
    the summary, then the item, check and site are shortened, never the deadlines, level,
    host, occurrence count or link; whatever still does not fit is cut between characters.
    """
    assert channel.url is not None
    url = channel.url.reveal()
    msg = out.message
    if channel.type == "wecom":
        limit = LIMITS["wecom"]
        msg = msg.fit(lambda m: _utf8_len(_wecom_content(m)) <= limit)
        return url, {"msgtype": "markdown", "markdown": {"content": clip_utf8(_wecom_content(msg), limit)}}
    if channel.type == "dingtalk":
        if channel.secret is not None:
            ts = int(now() * 1000)
            sign = dingtalk_sign(channel.secret.reveal(), ts)
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign}"
        limit = LIMITS["dingtalk"]
        msg = msg.fit(lambda m: _utf8_len(m.markdown) <= limit)
        return url, {"msgtype": "markdown",
                     "markdown": {"title": msg.title, "text": clip_utf8(msg.markdown, limit)}}
    if channel.type == "feishu":
        limit = LIMITS["feishu"]
        msg = msg.fit(lambda m: _body_len(_feishu(channel, out.event, m, now)) <= limit)
        return url, _feishu(channel, out.event, msg, now)
    return url, {"source": "wardround", "event_id": out.event_uid, "delivery_key": out.key,
                 "event": out.event, "at": out.at.isoformat(), "language": out.language,
                 "title": msg.title, "text": msg.text,
                 # the API's ticket (without what the outbox adds for the message's language)
                 "ticket": {k: v for k, v in out.ticket.items() if k not in ("messages", "level_names")}}


def _wecom_content(msg: Message) -> str:
    return f"**{msg.title}**\n{msg.markdown}"


def _feishu(channel: Channel, event: str, msg: Message, now: Callable[[], float]) -> dict[str, Any]:
    """Feishu's body for ``msg``: text, or a card; signed when the channel has a secret."""
    body: dict[str, Any]
    if channel.feishu_card:
        lines = msg.text.split("\n", 2)[-1]
        body = {"msg_type": "interactive", "card": {
            "header": {"title": {"tag": "plain_text", "content": msg.title},
                       "template": "green" if event in ("resolved", "closed") else "red"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": lines}}]}}
    else:
        body = {"msg_type": "text", "content": {"text": f"{msg.title}\n{msg.text}"}}
    if channel.secret is not None:
        ts = int(now())
        body = {"timestamp": str(ts), "sign": feishu_sign(channel.secret.reveal(), ts), **body}
    return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class WebhookSender:
    """Sends to one webhook-family channel."""

    def __init__(self, channel: Channel, *, now: Callable[[], float] = time.time) -> None:
        self.channel = channel
        self.now = now

    def send(self, out: Outgoing) -> None:
        ch = self.channel
        url, body = payload(ch, out, now=self.now)
        where = mask_url(url)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": f"wardround-collector/{__version__}"}
        if ch.type == "webhook":
            headers["Idempotency-Key"] = out.key
            if ch.token is not None:
                headers["Authorization"] = f"Bearer {ch.token.reveal()}"
        data = json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with _opener.open(request, timeout=ch.timeout_s) as resp:
                status = resp.status
                answer = resp.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            try:
                refusal = exc.read(MAX_ANSWER_BYTES)
            except OSError:
                refusal = b""
            exc.close()
            if status == 429:
                raise RateLimited(f"{where} answered HTTP 429 (too many requests)",
                                  blocked_s=retry_after or RATE_LIMIT_PAUSE_S) from None
            if ch.type in ROBOT_TYPES:  # Feishu answers its rate limit with HTTP 400 and code 9499
                _check_rate_limit(ch.type, where, _robot_code(ch.type, refusal))
            if status == 408 or status >= 500:
                raise TransientError(f"{where} answered HTTP {status}", retry_after_s=retry_after) from None
            raise PermanentError(f"{where} answered HTTP {status}") from None
        except urllib.error.URLError as exc:
            raise TransientError(f"cannot reach {where}: {_reason(exc.reason)}") from None
        except (OSError, ValueError) as exc:  # timeouts, resets, a malformed answer
            raise TransientError(f"sending to {where} failed: {_reason(exc)}") from None
        if not 200 <= status < 300:
            raise PermanentError(f"{where} answered HTTP {status}")
        if ch.type in ROBOT_TYPES:
            _check_robot_answer(ch.type, where, answer)


def _robot_code(kind: str, answer: bytes) -> tuple[Any, str] | None:
    """The robot's ``(code, message)`` from its JSON answer; None if it is not such JSON."""
    try:
        doc = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, Mapping):
        return None
    if kind == "feishu":
        return doc.get("code", doc.get("StatusCode")), str(doc.get("msg", doc.get("StatusMessage", "")))
    return doc.get("errcode"), str(doc.get("errmsg", ""))


def _check_rate_limit(kind: str, where: str, answer: tuple[Any, str] | None) -> None:
    if answer is None or answer[0] not in RATE_LIMIT_CODES[kind]:
        return
    code, text = answer
    needed = _ONLY_WITH_TEXT.get((kind, code))
    if needed is None or needed in text.lower():
        raise RateLimited(f"{where}: the {kind} robot is rate-limiting: code {code} {text[:200]}",
                          blocked_s=RATE_LIMIT_CODES[kind][code])


def _check_robot_answer(kind: str, where: str, answer: bytes) -> None:
    found = _robot_code(kind, answer)
    if found is None:
        raise TransientError(f"{where}: the {kind} robot answered something that is not JSON")
    _check_rate_limit(kind, where, found)
    code, text = found
    if code != 0:
        raise TransientError(f"{where}: the {kind} robot refused the message: code {code} {text[:200]}")


def _reason(exc: object) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
