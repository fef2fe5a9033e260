"""Message texts in Chinese and English with absolute local times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collector.notify.messages import DigestItem, render, render_digest

AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
TICKET = {"id": 12, "site": "central-hospital", "host": "his-db-01", "check": "db_backup", "item": "HIS",
          "severity": 1, "level_name": "一级故障", "priority": True, "state": "open",
          "summary": "全量备份失败",
          "opened_at": "2026-11-23T01:30:00+00:00", "response_due": "2026-11-23T02:00:00Z",
          "resolve_due": "2026-11-23T05:30:00+00:00", "occurrences": 3, "response_breached": True,
          "resolve_breached": False, "flapping": True}


def test_chinese_message_shows_local_deadlines_when_rendered():
    m = render("breached", TICKET, at=AT, language="zh", timezone="Asia/Shanghai")
    assert m.title == "[Wardround] 故障单超时 #12 central-hospital his-db-01 db_backup HIS (1级 一级故障)"
    assert "响应时限：2026-11-23 10:00 (Asia/Shanghai)" in m.text
    assert "解决时限：2026-11-23 13:30 (Asia/Shanghai)" in m.text
    assert "重点客户：是" in m.text and "发生次数：3" in m.text
    assert "已超时：响应" in m.text and "状态抖动：是" in m.text
    assert m.markdown.startswith("### 故障单超时 #12") and "> **摘要**：全量备份失败" in m.markdown


def test_english_message_uses_english_labels_when_language_is_en():
    m = render("resolved", TICKET, at=AT, language="en", timezone="UTC")
    assert m.title.startswith("[Wardround] Ticket resolved #12")
    assert "Respond by: 2026-11-23 02:00 (UTC)" in m.text and "Key customer: yes" in m.text
    assert "Breached: response" in m.text and "Flapping: yes" in m.text


def test_deadlines_show_the_terms_as_the_policy_wrote_them_when_the_ticket_has_terms():
    ticket = {**TICKET, "terms": {"response": {"within": "27h", "clock": "business"},
                                  "resolve": {"within": "3wd", "clock": "business"}}}
    zh = render("opened", ticket, at=AT, language="zh", timezone="Asia/Shanghai")
    assert "响应时限：2026-11-23 10:00 (Asia/Shanghai)，工作时间27小时内" in zh.text
    assert "解决时限：2026-11-23 13:30 (Asia/Shanghai)，3个工作日内" in zh.text
    en = render("opened", ticket, at=AT, language="en", timezone="UTC")
    assert "Respond by: 2026-11-23 02:00 (UTC), within 27 hours of business time" in en.text
    assert "Resolve by: 2026-11-23 05:30 (UTC), within 3 working days" in en.text
    assert "1d3h" not in zh.text + en.text


def test_message_links_the_ticket_page_when_a_link_is_given():
    m = render("opened", TICKET, at=AT, language="zh", timezone="UTC", link="https://w.example/tickets/12")
    assert m.text.endswith("详情：https://w.example/tickets/12")
    assert "[https://w.example/tickets/12](https://w.example/tickets/12)" in m.markdown


def test_digest_lists_events_in_order_and_says_why_in_the_readers_language():
    items = [DigestItem("opened", {**TICKET, "id": 7}, AT), DigestItem("resolved", {**TICKET, "id": 7}, AT),
             DigestItem("opened", {**TICKET, "id": 8, "severity": 2, "level_name": ""}, AT)]
    zh = render_digest(items, rate=(20, 60.0), language="zh", timezone="Asia/Shanghai")
    assert zh.title == "[Wardround] 故障单事件汇总 3 条"
    assert "机器人限速（20 条/分钟）：为免积压，以下 3 条事件合并为一条消息，按发生顺序排列。" in zh.text
    lines = [line for line in zh.markdown.splitlines() if line.startswith("- ")]
    assert lines == ["- **新故障单 #7** central-hospital his-db-01 db_backup HIS (1级 一级故障) 2026-11-23 09:30 "
                     "(Asia/Shanghai)",
                     "- **故障已恢复 #7** central-hospital his-db-01 db_backup HIS (1级 一级故障) 2026-11-23 09:30 "
                     "(Asia/Shanghai)",
                     "- **新故障单 #8** central-hospital his-db-01 db_backup HIS (2级) 2026-11-23 09:30 "
                     "(Asia/Shanghai)"]
    assert not re.search(r"[A-Za-z]{4,}", re.sub(r"central-hospital|his-db-01|db_backup|Wardround|Asia/Shanghai",
                                                 "", zh.text))  # no English prose in the Chinese digest
    en = render_digest(items, rate=(5, 1.0), language="en")
    assert en.title == "[Wardround] Digest of 3 ticket events"
    assert "The robot's rate limit (5 per second)" in en.text and "- Ticket resolved #7" in en.text


def test_a_built_in_level_name_reads_in_the_messages_language():
    ticket = {**TICKET, "severity": 2, "level_name": "general fault"}
    assert "(2级 一般故障)" in render("opened", ticket, at=AT, language="zh", timezone="UTC").title
    assert "(level 2 general fault)" in render("opened", ticket, at=AT, language="en", timezone="UTC").title
    assert "(2级 general fault)" not in render("opened", ticket, at=AT, language="zh", timezone="UTC").text
    custom = {**TICKET, "severity": 2, "level_name": "窗口停摆"}  # a site's own name: as the policy wrote it
    assert "(level 2 窗口停摆)" in render("opened", custom, at=AT, language="en", timezone="UTC").title


def test_a_monitoring_tickets_summary_reads_in_the_messages_language_from_its_results_keys():
    import orjson

    from checks.messages import say
    from checks.result import Result, Status
    from collector.messages import messages_json

    r = Result("disk", "/data", Status.CRITICAL, summary=say("disk.used", mount="/data", used=95.0, free=2**30,
                                                               total=2**34))
    ticket = {**TICKET, "check": "disk", "item": "/data", "summary": f"disk /data: {r.summary}",
              "messages": messages_json(r)}
    zh = render("opened", ticket, at=AT, language="zh", timezone="UTC")
    assert "摘要：disk /data: /data 已用 95.0 %，总 16 GiB，剩余 1 GiB" in zh.text
    en = render("opened", ticket, at=AT, language="en", timezone="UTC")
    assert "Summary: disk /data: /data 95.0 % used, 1 GiB free of 16 GiB" in en.text
    broken = {**ticket, "messages": orjson.dumps({"message": {"key": "no.such", "args": {}}}).decode()}
    assert "摘要：disk /data: /data 95.0 % used" in render("opened", broken, at=AT, language="zh").text
