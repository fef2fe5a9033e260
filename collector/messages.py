"""Results' message keys in the collector: stored beside the English texts, rendered for a reader.

A result may carry ``message``/``standard_message`` (contract.md; :mod:`checks.messages`).
They are stored as one JSON column ``messages`` (``{"message": {...}, "standard_message":
{...}}``, NULL for an agent that sends none) and rendered in the reader's language where a
person reads a result: pages (the reader's language), records (the record's language, fixed
at issue), tickets and notifications.  What cannot be rendered (a key this collector does not
know, bad arguments) shows the English ``summary``/``standard`` the agent sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any

import orjson

from checks.messages import Said, said, text_of
from checks.result import Message, Result, ResultError, WireResult
from collector.dates import EARLIEST, LATEST, DateError
from collector.terms import say_term
from collector.wire_fast import stored_json

__all__ = ["ERROR_KEYS", "TICKET_KEYS", "date_said", "grace_words", "in_language", "local_minute", "local_moment",
           "messages_json", "note_json",
           "note_text", "read_messages", "result_said", "said_json", "stored_messages", "texts", "ticket_summary",
           "ticket_templates", "tsay"]

log = logging.getLogger(__name__)
_FIELDS = ("message", "standard_message")


def messages_json(result: Result | WireResult) -> str | None:
    """The ``messages`` column of ``result``: None when it carries no keys (written by
    :func:`collector.wire_fast.stored_json`, as ingest's fast path writes a batch's messages)."""
    out = {name: m.to_wire() for name in _FIELDS if (m := getattr(result, name)) is not None}
    return stored_json(out) if out else None


def read_messages(raw: str | None) -> tuple[Message | None, Message | None]:
    """(message, standard_message) of a stored ``messages`` column; (None, None) when unreadable."""
    if not raw:
        return None, None
    try:
        doc = orjson.loads(raw)
        message, standard = (None if doc.get(k) is None else Message.from_wire(doc[k], k) for k in _FIELDS)
        return message, standard
    except (orjson.JSONDecodeError, ResultError, AttributeError) as exc:
        log.warning("stored messages not readable (%s); showing the summary", exc)
        return None, None


def stored_messages(raw: str | None) -> dict[str, Any]:
    """The wire members ``message``/``standard_message`` of a stored result (only those it has)."""
    return {k: m.to_wire() for k, m in zip(_FIELDS, read_messages(raw), strict=True) if m is not None}


def ticket_summary(summary: str, check: str, item: str, raw: str | None, lang: str) -> str:
    """A ticket's summary in ``lang``: a monitoring ticket's ``check item: result summary`` from the
    message keys of the result that opened it (``raw``, its ``messages``); else as written (a
    person's words, or a result without keys)."""
    if not raw:
        return summary
    message, _ = read_messages(raw)
    said = text_of(summary, message, lang, ticket_templates(lang))
    if said == summary or (message is not None and message.key.startswith(TICKET_KEYS)):
        return said  # the collector's own summary is whole
    return f"{check} {item}: {said}"


def texts(summary: str, standard: str, raw: str | None, lang: str) -> tuple[str, str]:
    """(summary, standard) as a reader of ``lang`` reads them; the English texts where no key renders."""
    message, standard_message = read_messages(raw)
    return text_of(summary, message, lang), text_of(standard, standard_message, lang)


# -- the collector's own texts about tickets: summaries of the tickets it opens, history notes -------

TICKET_KEYS = "tickets."  # their keys' prefix, in collector/records/i18n/tickets.{zh_CN,en}.json
ERROR_KEYS = "errors."  # the records' and the archive's refusals: collector/records/i18n/errors.{zh_CN,en}.json


@cache
def ticket_templates(lang: str) -> Mapping[str, str]:
    """The collector's own texts in ``lang`` (the records' catalogue): ticket texts (``tickets.*``) and
    the other services' refusals (``errors.*``)."""
    from collector.records.i18n import catalog

    return {k: v for k, v in catalog(lang).items() if k.startswith((TICKET_KEYS, ERROR_KEYS))}


def tsay(key: str, /, **args: Any) -> str:
    """The collector's ticket text ``key`` with ``args`` (which may be results' messages): its English
    text, carrying the key and arguments, stored beside the text and rendered for each reader.

    A person's words among the arguments holding markup (``<``/``>``, which no reader's rendering
    takes) make a plain English text without a key: the note reads as written everywhere."""
    if any(isinstance(v, str) and any(c in v for c in _MARKUP) for v in args.values()):
        safe = {k: v.translate(_HIDE) if isinstance(v, str) else v for k, v in args.items()}
        return str(said(key, safe, ticket_templates("en"))).translate(_SHOW)
    return said(key, args, ticket_templates("en"))


_MARKUP = "<>"
_HIDE = str.maketrans({"<": "\ue000", ">": "\ue001"})
_SHOW = str.maketrans({"\ue000": "<", "\ue001": ">"})


def result_said(summary: str, raw: str | None) -> str | Message:
    """A result's summary as an argument of a ticket text: its message when it has one."""
    message, _ = read_messages(raw)
    return message if message is not None else summary


def note_json(note: str) -> str | None:
    """The ``message`` column of a history event whose ``note`` is ``note``: None for a person's words."""
    return orjson.dumps(note.message.to_wire()).decode() if isinstance(note, Said) else None


def said_json(text: str) -> str | None:
    """The ``messages`` column of a ticket whose summary is ``text`` (one of the collector's texts)."""
    return orjson.dumps({"message": text.message.to_wire()}).decode() if isinstance(text, Said) else None


def note_text(note: str, raw: str | None, lang: str) -> str:
    """A history event's note for a reader of ``lang``: its ``message`` (``raw``) rendered, else as written."""
    if not raw:
        return note
    try:
        message = Message.from_wire(orjson.loads(raw), "message")
    except (orjson.JSONDecodeError, ResultError, AttributeError, TypeError) as exc:
        log.warning("stored note message not readable (%s); showing the note", exc)
        return note
    return text_of(note, message, lang, ticket_templates(lang))


def grace_words(term: Any) -> dict[str, str]:
    """The arguments ``grace_zh``/``grace_en`` of a ticket text naming the agent-silent grace (a policy
    term): as written (en, ``1h30m``) and in words (zh, ``1小时30分钟``)."""
    return {"grace_zh": say_term(term.text, "zh_CN", business=False), "grace_en": term.text}


def local_minute(when: datetime, zone: tzinfo, *, named: bool = True) -> str:
    """A moment as people read it in either language: ``2026-12-05 22:58 (Asia/Shanghai)``, the site's
    local time (its calendar's zone) to the minute; naive times are UTC.  ``named=False`` leaves the
    zone's name off (``2026-12-05 22:58``) for a page or record that names its zone once, in its footer
    or header.  The one time formatter of the collector: tickets, notifications, records, pages, CLI."""
    at = when.replace(tzinfo=when.tzinfo or UTC).astimezone(zone)
    return f"{at:%Y-%m-%d %H:%M} ({zone})" if named else f"{at:%Y-%m-%d %H:%M}"


def local_moment(value: datetime | str | None, zone: tzinfo, *, named: bool = True) -> str | None:
    """A stored or answered time (a datetime, or ISO text as the API and ``--json`` give it) as
    :func:`local_minute` says it; None for no time; a text that is no time as it is.  A bad clock's time
    at the end of the calendar (no local time exists for it) is said in UTC, always named:
    ``9999-12-31 23:59 (UTC)``."""
    if value is None or value == "":
        return None
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    assert isinstance(when, datetime)
    try:
        return local_minute(when, zone, named=named)
    except OverflowError:
        try:
            return local_minute(when, UTC)
        except OverflowError:  # beyond UTC's calendar too: as it came
            return when.isoformat()


def date_said(exc: DateError) -> str:
    """A malformed or out-of-range day or time (:class:`collector.dates.DateError`) as a keyed text."""
    if exc.fault == "date":
        return tsay("errors.date.malformed", where=exc.where, got=exc.got)
    return tsay(f"errors.date.{exc.fault}_range", where=exc.where, got=exc.got, first=EARLIEST.isoformat(),
                last=LATEST.isoformat())


def in_language(text: object, lang: str) -> str:
    """One of the collector's texts (:func:`tsay`: a refusal, a note; or a request refused in words an agent
    reads too, ``cli_said``: a form's body too large or not readable) in ``lang``; any other text as it is."""
    if isinstance(text, Said):
        if text.message.key.startswith("cli."):
            from checks.messages.reader import cli_templates

            return text_of(text, text.message, lang, cli_templates(lang))
        return text_of(text, text.message, lang, ticket_templates(lang))
    return str(text)
