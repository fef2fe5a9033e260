"""Message texts in Chinese and English with absolute local times."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.notify.messages import render

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
