"""Message texts of ticket events, in Chinese (``zh``) and English (``en``).

A :class:`Message` has a one-line ``title`` (mail subject, robot card title),
a plain ``text`` body (mail, Feishu text) and a ``markdown`` body (WeCom and
DingTalk robots).  Times are shown in the configured time zone as absolute
times with the zone's name; a ticket's response and resolution terms are
shown as the policy wrote them (``3个工作日`` / ``3 working days``).

Each channel has a size limit (:data:`LIMITS`).  A message that is too long
is made to fit by :meth:`Message.fit`, which shortens, in this order, the
summary, then the item, the check and the site names (:data:`CLIP_ORDER`),
each just enough; the event, ticket number, level, host, state, times and
deadlines, occurrence count, breaches and the link are never shortened.  A
shortened text ends with ``…``; cuts are between characters, never inside
one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from collector.messages import local_moment, ticket_summary
from collector.policy import level_name
from collector.records.i18n import catalog
from collector.terms import say_term

__all__ = ["CLIP_ORDER", "LIMITS", "DigestItem", "Message", "clip_utf8", "render", "render_digest"]

#: What each channel accepts, and what the limit measures (see docs/notifications.md):
#: WeCom: the markdown ``content``, 4096 bytes of UTF-8 (群机器人配置说明);
#: DingTalk: the markdown ``text``, 20000 bytes (the figure users report from the robot's refusals);
#: Feishu: the whole request body, 20 KB (自定义机器人使用指南: "请求体的数据大小不能超过 20 KB"),
#: counted as 20000 bytes to stay clear of both readings of "KB";
#: e-mail: the subject, 200 characters (RFC 5322 allows 998 per line and asks for 78: the
#: ``email`` package folds a longer subject into lines of at most 78, so this only bounds what a
#: reader's mail list shows).
LIMITS = {"wecom": 4096, "dingtalk": 20000, "feishu": 20000, "email_subject": 200}
#: Fields shortened when a message is too long, first first.
CLIP_ORDER = ("summary", "item", "check", "site")
_ELLIPSIS = "…"

#: A message's languages: ``zh`` (the catalogues' zh_CN) and ``en``; its words are the catalogues'
#: ``notify.*`` keys (collector/records/i18n/notify.{zh_CN,en}.json).
_LANGUAGES = ("zh", "en")


def _reader(lang: str) -> str:
    """The catalogue language of a message language."""
    return "zh_CN" if lang == "zh" else "en"


@cache
def _words(lang: str, family: str) -> dict[str, str]:
    """The catalogue's ``notify.<family>.*`` words in ``lang``, by the rest of their key."""
    prefix = f"notify.{family}."
    return {k.removeprefix(prefix): v for k, v in catalog(_reader(lang)).items() if k.startswith(prefix)}


def clip_utf8(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` bytes of UTF-8, ending with ``…`` when cut; never cuts a character."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    room = max(limit - len(_ELLIPSIS.encode()), 0)
    return raw[:room].decode("utf-8", "ignore") + (_ELLIPSIS if limit >= len(_ELLIPSIS.encode()) else "")


def _clip(text: str, chars: int | None) -> str:
    if chars is None or len(text) <= chars:
        return text
    return text[:chars] + _ELLIPSIS


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    markdown: str
    #: the same message with fields shortened to at most so many characters (set by :func:`render`)
    remake: Callable[[Mapping[str, int]], Message] | None = field(default=None, compare=False, repr=False)
    lengths: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def fit(self, fits: Callable[[Message], bool]) -> Message:
        """This message, shortened (see the module docstring) just enough that ``fits`` holds.

        If even the shortest form does not fit, that form is returned: the caller cuts the rest
        (:func:`clip_utf8`) and the fields that are never shortened come first.
        """
        if fits(self) or self.remake is None:
            return self
        caps: dict[str, int] = {}
        best = self
        for name in CLIP_ORDER:
            full = self.lengths.get(name, 0)
            if full == 0:
                continue
            shortest = self.remake({**caps, name: 0})
            if not fits(shortest):
                caps[name] = 0
                best = shortest
                continue
            low, high = 0, full - 1  # the longest length that fits lies in [low, high]
            while low < high:
                mid = (low + high + 1) // 2
                if fits(self.remake({**caps, name: mid})):
                    low = mid
                else:
                    high = mid - 1
            return self.remake({**caps, name: low})
        return best


def _time(value: Any, tz: ZoneInfo) -> str | None:
    """A ticket's time in the notification's zone, named (:func:`collector.messages.local_moment`)."""
    if not value:
        return None
    return local_moment(value if isinstance(value, datetime) else str(value), tz)


def _where(ticket: Mapping[str, Any]) -> str:
    return " ".join(str(ticket[k]) for k in ("site", "host", "check", "item") if ticket.get(k))


def _level(ticket: Mapping[str, Any], language: str) -> str:
    """The ticket's level in the message's language: the site's own name for it (``level_names``, added
    when the event was written), else the built-in level's name, else as stored."""
    severity = ticket.get("severity")
    name = ticket.get("level_name")
    reader = _reader(language)
    names = ticket.get("level_names")
    if isinstance(names, Mapping) and isinstance(names.get(reader), str) and names[reader]:
        name = names[reader]
    elif isinstance(name, str) and isinstance(severity, int):
        name = level_name(name, severity, reader)
    base = f"{severity}级" if language == "zh" else f"level {severity}"
    return f"{base} {name}" if name else base


def _state(state: str, lang: str) -> str:
    """A ticket's state in the message's language (the records' words: 待响应, open); unknown: as stored."""
    return catalog(_reader(lang)).get(f"state.{state}", state)


def _in_language(ticket: Mapping[str, Any], lang: str) -> Mapping[str, Any]:
    """``ticket`` with its summary in the message's language (a monitoring ticket keeps its opening
    result's message keys, ``messages``)."""
    raw = ticket.get("messages")
    if not isinstance(raw, str) or not isinstance(ticket.get("summary"), str):
        return ticket
    said = ticket_summary(ticket["summary"], str(ticket.get("check") or ""), str(ticket.get("item") or ""), raw,
                          _reader(lang))
    return {**ticket, "summary": said}


def _due(ticket: Mapping[str, Any], key: str, term_key: str, tz: ZoneInfo, lang: str) -> str | None:
    shown = _time(ticket.get(key), tz)
    terms = ticket.get("terms")
    term = terms.get(term_key) if isinstance(terms, Mapping) else None
    if shown and isinstance(term, Mapping) and isinstance(term.get("within"), str):
        said = say_term(term["within"], lang, business=term.get("clock") == "business")
        shown += f"，{said}内" if lang == "zh" else f", within {said}"
    return shown


def render(event: str, ticket: Mapping[str, Any], *, at: datetime, language: str = "zh",
           timezone: str = "UTC", link: str | None = None) -> Message:
    """The message for ``event`` on ``ticket`` in ``language``; ``link`` is the ticket's page, if known."""
    lang = language if language in _LANGUAGES else "en"
    tz = ZoneInfo(timezone)
    words, labels = _words(lang, "event"), _words(lang, "label")
    sep = "：" if lang == "zh" else ": "
    level = _level(ticket, lang)
    ticket = _in_language(ticket, lang)
    heading = f"{words.get(event, event)} #{ticket.get('id')}"
    lengths = {k: len(str(ticket[k])) for k in CLIP_ORDER if ticket.get(k) not in (None, "")}

    def make(caps: Mapping[str, int]) -> Message:
        def value(key: str) -> str:
            return _clip(str(ticket[key]), caps.get(key))

        where = " ".join(value(k) for k in ("site", "host", "check", "item") if ticket.get(k))
        title = f"[Wardround] {heading} {where} ({level})"
        rows: list[tuple[str, str]] = [(labels["level"], level)]
        if ticket.get("priority"):
            rows.append((labels["priority"], labels["yes"]))
        for key in ("site", "host", "check", "item", "state", "summary"):
            if ticket.get(key) not in (None, ""):
                rows.append((labels[key], _state(str(ticket[key]), lang) if key == "state" else value(key)))
        if ticket.get("assignee"):
            rows.append((labels["assignee"], str(ticket["assignee"])))
        rows.append((labels["at"], _time(at, tz) or ""))
        for key, term_key in (("opened_at", ""), ("response_due", "response"), ("resolve_due", "resolve")):
            shown = _due(ticket, key, term_key, tz, lang)
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
        text_rows = [f"{k}{sep}{v}" for k, v in rows]
        md_rows = [f"> **{k}**{sep}{v}" for k, v in rows]
        if link:
            text_rows.append(f"{labels['link']}{sep}{link}")
            md_rows.append(f"> **{labels['link']}**{sep}[{link}]({link})")
        return Message(title=title, text="\n".join([heading, "", *text_rows]),
                       markdown="\n".join([f"### {heading}", *md_rows]), remake=make, lengths=lengths)

    return make({})


# -- digests: several events in one message when a rate-limited robot would fall behind ----------


@dataclass(frozen=True, slots=True)
class DigestItem:
    event: str
    ticket: Mapping[str, Any]
    at: datetime


def render_digest(items: list[DigestItem], *, rate: tuple[int, float], language: str = "zh",
                  timezone: str = "UTC") -> Message:
    """One message for ``items`` (in order), saying that and why they were combined.

    ``rate`` is the robot's limit that made the digest necessary: (count, per seconds).
    """
    lang = language if language in _LANGUAGES else "en"
    words, d, tz = _words(lang, "event"), _words(lang, "digest"), ZoneInfo(timezone)
    count, per_s = rate
    per = _words(lang, "per").get(f"{float(per_s):g}") or d["seconds"].format(n=f"{per_s:g}")
    n = len(items)
    why = d["why"].format(rate=d["rate"].format(count=count, per=per), n=n)
    lines = []
    for item in items:
        t = item.ticket
        when = _time(item.at, tz) or ""
        lines.append((f"{words.get(item.event, item.event)} #{t.get('id')}", f"{_where(t)} ({_level(t, lang)}) {when}"))
    heading = d["heading"].format(n=n)
    text = "\n".join([heading, "", why, ""] + [f"- {a} {b}" for a, b in lines])
    markdown = "\n".join([f"### {heading}", f"> {why}", ""] + [f"- **{a}** {b}" for a, b in lines])
    return Message(title=d["title"].format(n=n), text=text, markdown=markdown)
