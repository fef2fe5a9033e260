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
from typing import Any

import orjson

from checks.messages import text_of
from checks.result import Message, Result, ResultError

__all__ = ["messages_json", "read_messages", "stored_messages", "texts", "ticket_summary"]

log = logging.getLogger(__name__)
_FIELDS = ("message", "standard_message")


def messages_json(result: Result) -> str | None:
    """The ``messages`` column of ``result``: None when it carries no keys."""
    out = {name: m.to_wire() for name in _FIELDS if (m := getattr(result, name)) is not None}
    return orjson.dumps(out).decode() if out else None


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
    said, _ = texts(summary, "", raw, lang)
    return said if said == summary else f"{check} {item}: {said}"


def texts(summary: str, standard: str, raw: str | None, lang: str) -> tuple[str, str]:
    """(summary, standard) as a reader of ``lang`` reads them; the English texts where no key renders."""
    message, standard_message = read_messages(raw)
    return text_of(summary, message, lang), text_of(standard, standard_message, lang)
