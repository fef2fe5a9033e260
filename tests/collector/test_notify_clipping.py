"""Long messages fit each channel's limit by shortening the summary first, never the deadlines.

WeCom markdown 4096 bytes, DingTalk markdown 20000 bytes, Feishu request body 20 KB (20000 bytes
here), e-mail subject 200 characters: in Chinese and English, with summaries far over each limit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from collector.notify.base import Outgoing
from collector.notify.config import parse_notifications
from collector.notify.email import build_message
from collector.notify.messages import LIMITS, clip_utf8, render
from collector.notify.webhook import WebhookSender, payload
from tests.collector.notify_receivers import hook_sink_fixture  # noqa: F401 (fixture)

AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
LINK = "https://wardround.example-hospital.cn/tickets/{id}"
SUMMARIES = {
    "zh": "数据库全量备份失败：作业 HIS_FULL 在步骤 3 报错，磁盘空间不足，备份文件未生成。" * 300,  # ~ 33 KB
    "en": "Full backup of HIS failed: job HIS_FULL step 3 reported that the disk is full. " * 300,
}
TICKET = {"id": 4711, "site": "central-hospital", "host": "his-db-01", "check": "db_backup", "item": "HIS/full",
          "severity": 1, "level_name": "一级故障", "state": "open", "occurrences": 17,
          "opened_at": "2026-11-23T01:30:00Z", "response_due": "2026-11-23T03:30:00Z",
          "resolve_due": "2026-11-26T09:30:00Z", "response_breached": True,
          "terms": {"response": {"within": "2h", "clock": "24x7"}, "resolve": {"within": "3wd", "clock": "business"}}}
MUST = {
    "zh": ["响应时限：2026-11-23 11:30 (Asia/Shanghai)，2小时内",
           "解决时限：2026-11-26 17:30 (Asia/Shanghai)，3个工作日内", "1级 一级故障", "his-db-01", "发生次数：17",
           "已超时：响应", "https://wardround.example-hospital.cn/tickets/4711"],
    "en": ["Respond by: 2026-11-23 11:30 (Asia/Shanghai), within 2 hours",
           "Resolve by: 2026-11-26 17:30 (Asia/Shanghai), within 3 working days", "level 1 一级故障", "his-db-01",
           "Occurrences: 17", "Breached: response", "https://wardround.example-hospital.cn/tickets/4711"],
}
CHANNELS = {
    "wecom": {"type": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
    "dingtalk": {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                 "secret": "SEC0123"},
    "feishu": {"type": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/h", "secret": "s3"},
    "feishu-card": {"type": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/h", "card": True},
}


def _out(language: str, ticket: dict[str, object]) -> Outgoing:
    message = render("breached", ticket, at=AT, language=language, timezone="Asia/Shanghai",
                     link=LINK.replace("{id}", str(ticket["id"])))
    return Outgoing(key="e1.c", event_uid="e1", event="breached", at=AT, ticket=ticket, language=language,
                    message=message)


def _channel(name: str):  # type: ignore[no-untyped-def]
    config, problems = parse_notifications({"channels": {"c": CHANNELS[name]}})
    assert problems == [] and config is not None
    return config.channels["c"]


def _shown(name: str, body: dict) -> tuple[str, int]:  # type: ignore[type-arg]
    """(what the group reads, the size the channel's limit measures)."""
    if name == "wecom":
        content = body["markdown"]["content"]
        return content.replace("**", ""), len(content.encode())
    if name == "dingtalk":
        text = body["markdown"]["text"]
        return (body["markdown"]["title"] + "\n" + text).replace("**", ""), len(text.encode())
    shown = json.dumps(body, ensure_ascii=False)
    readable = body["card"]["elements"][0]["text"]["content"] if "card" in body else body["content"]["text"]
    return readable, len(shown.encode())


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("name", list(CHANNELS))
def test_long_summary_is_shortened_and_the_deadlines_survive_when_over_the_channel_limit(name, language):
    summary = SUMMARIES[language]
    _, body = payload(_channel(name), _out(language, {**TICKET, "summary": summary}))
    shown, size = _shown(name, body)
    assert size <= LIMITS[name.split("-")[0]]
    for must in MUST[language]:
        assert must in shown, must
    label = "摘要：" if language == "zh" else "Summary: "
    kept = shown.split(label, 1)[1].split("\n", 1)[0]
    assert kept.endswith("…") and len(kept) > 20 and summary.startswith(kept.removesuffix("…"))
    assert size > LIMITS[name.split("-")[0]] - 400  # shortened just enough, not emptied


@pytest.mark.parametrize("language", ["zh", "en"])
def test_long_item_and_site_are_shortened_after_the_summary_when_the_summary_is_not_enough(language):
    ticket = {**TICKET, "summary": SUMMARIES[language], "item": "数据库/" * 85, "site": "s" * 64}
    _, body = payload(_channel("wecom"), _out(language, ticket))
    content = body["markdown"]["content"]
    assert len(content.encode()) <= LIMITS["wecom"]
    for must in MUST[language]:
        assert must in content.replace("**", ""), must


@pytest.mark.parametrize("language", ["zh", "en"])
def test_short_message_is_sent_whole_when_it_fits(language):
    out = _out(language, {**TICKET, "summary": "全量备份失败"})
    _, body = payload(_channel("wecom"), out)
    assert body["markdown"]["content"] == f"**{out.message.title}**\n{out.message.markdown}"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_mail_subject_keeps_level_and_host_and_fits_when_names_are_long(language):
    config, problems = parse_notifications({"channels": {"m": {
        "type": "email", "host": "smtp.example", "from": "w@example.cn", "to": ["a@example.cn"]}}})
    assert problems == [] and config is not None
    ticket = {**TICKET, "summary": SUMMARIES[language], "item": "数据库备份目录/" * 30, "check": "c" * 64}
    mail = build_message(config.channels["m"], _out(language, ticket))
    subject = str(mail["Subject"])
    assert len(subject) <= LIMITS["email_subject"]
    assert "his-db-01" in subject and ("1级 一级故障" if language == "zh" else "level 1 一级故障") in subject
    assert "…" in subject
    assert all(len(line) <= 78 for line in mail.as_bytes().split(b"\n") if line.startswith((b"Subject", b" ")))
    for must in MUST[language]:  # the body is whole
        assert must in mail.get_content()


def test_clip_never_cuts_inside_a_character_when_the_limit_falls_in_one():
    text = "备份失败" * 10  # 3 bytes a character
    for limit in range(3, 40):
        clipped = clip_utf8(text, limit)
        assert len(clipped.encode()) <= limit and clipped.endswith("…")
        assert text.startswith(clipped[:-1])


def test_wecom_robot_receives_the_deadlines_when_the_summary_is_long(hook_sink):
    sender = WebhookSender(parse_notifications({"channels": {"c": {
        "type": "wecom", "url": hook_sink.url("/cgi-bin/webhook/send?key=k")}}})[0].channels["c"])  # type: ignore[union-attr]
    sender.send(_out("zh", {**TICKET, "summary": SUMMARIES["zh"]}))
    (hit,) = hook_sink.on("/cgi-bin/webhook/send")
    content = hit.body["markdown"]["content"]
    assert len(content.encode()) <= 4096
    for must in MUST["zh"]:
        assert must in content.replace("**", "")
