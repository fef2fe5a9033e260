"""Message texts of ticket events, in Chinese (``zh``) and English (``en``).

A :class:`Message` has a one-line ``title`` (mail subject, robot card title),
a plain ``text`` body (mail, Feishu text) and a ``markdown`` body (WeCom and
DingTalk robots).  Times are shown in the configured time zone as absolute
times with the zone's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Message", "render"]

_EVENT_WORDS = {
    "zh": {"opened": "新故障单", "reopened": "故障单重新打开", "acknowledged": "故障单已响应",
           "escalated": "故障单已升级", "breached": "故障单超时", "resolved": "故障已恢复",
           "closed": "故障单已关闭"},
    "en": {"opened": "New ticket", "reopened": "Ticket reopened", "acknowledged": "Ticket acknowledged",
           "escalated": "Ticket escalated", "breached": "Ticket deadline breached",
           "resolved": "Ticket resolved", "closed": "Ticket closed"},
}
_LABELS = {
    "zh": {"level": "级别", "site": "站点", "host": "主机", "check": "检查", "item": "对象",
           "state": "状态", "summary": "摘要", "opened_at": "开单时间", "response_due": "响应时限",
           "resolve_due": "解决时限", "occurrences": "发生次数", "priority": "重点客户",
           "at": "事件时间", "yes": "是", "flapping": "状态抖动", "breached": "已超时",
           "response": "响应", "resolution": "解决", "onsite": "上门"},
    "en": {"level": "Level", "site": "Site", "host": "Host", "check": "Check", "item": "Item",
           "state": "State", "summary": "Summary", "opened_at": "Opened", "response_due": "Respond by",
           "resolve_due": "Resolve by", "occurrences": "Occurrences", "priority": "Key customer",
           "at": "Event time", "yes": "yes", "flapping": "Flapping", "breached": "Breached",
           "response": "response", "resolution": "resolution", "onsite": "on-site visit"},
}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    markdown: str


def _time(value: Any, tz: ZoneInfo) -> str | None:
    if not value:
        return None
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M")
    return f"{when.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"


def _level(ticket: Mapping[str, Any], language: str) -> str:
    severity = ticket.get("severity")
    name = ticket.get("level_name")
    base = f"{severity}级" if language == "zh" else f"level {severity}"
    return f"{base} {name}" if name else base


def render(event: str, ticket: Mapping[str, Any], *, at: datetime, language: str = "zh",
           timezone: str = "UTC") -> Message:
    """The message for ``event`` on ``ticket`` in ``language``."""
    lang = language if language in _LABELS else "en"
    tz = ZoneInfo(timezone)
    words, labels = _EVENT_WORDS[lang], _LABELS[lang]
    where = " ".join(str(ticket[k]) for k in ("site", "host", "check", "item") if ticket.get(k))
    level = _level(ticket, lang)
    sep = "：" if lang == "zh" else ": "
    title = f"[Wardround] {words.get(event, event)} #{ticket.get('id')} {where} ({level})"
    rows: list[tuple[str, str]] = [(labels["level"], level)]
    if ticket.get("priority"):
        rows.append((labels["priority"], labels["yes"]))
    for key in ("site", "host", "check", "item", "state", "summary"):
        if ticket.get(key) not in (None, ""):
            rows.append((labels[key], str(ticket[key])))
    rows.append((labels["at"], _time(at, tz) or ""))
    for key in ("opened_at", "response_due", "resolve_due"):
        shown = _time(ticket.get(key), tz)
        if shown:
            rows.append((labels[key], shown))
    if ticket.get("occurrences") not in (None, ""):
        rows.append((labels["occurrences"], str(ticket["occurrences"])))
    breached = [labels[name] for name, key in (("response", "response_breached"),
                                               ("resolution", "resolve_breached"),
                                               ("onsite", "onsite_breached")) if ticket.get(key)]
    if breached:
        rows.append((labels["breached"], ", ".join(breached)))
    if ticket.get("flapping"):
        rows.append((labels["flapping"], labels["yes"]))
    heading = f"{words.get(event, event)} #{ticket.get('id')}"
    text = "\n".join([heading, ""] + [f"{k}{sep}{v}" for k, v in rows])
    markdown = "\n".join([f"### {heading}"] + [f"> **{k}**{sep}{v}" for k, v in rows])
    return Message(title=title, text=text, markdown=markdown)
