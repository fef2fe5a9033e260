"""Notifications of ticket events: e-mail and webhooks through an outbox.

:func:`enqueue` is called by the ticket ledger inside its own transaction; it
writes one row to ``notify_events`` on the same connection, so a ticket change
and its notification commit or roll back together.  Routing (which channel
hears which site, level and event) is applied later by the dispatcher
(:mod:`collector.notify.dispatch`), which fans each event out exactly once
into ``notify_deliveries`` (one row per channel) and sends them with retries.

Events:

``opened``        a ticket was opened (by a result or by a person)
``reopened``      a resolved ticket was reopened within the reopen window
``acknowledged``  an engineer took the ticket (response clock stops)
``escalated``     a deadline passed and the ticket's level rose
``breached``      a deadline (response or resolution) passed
``resolved``      recovered (automatically or by an engineer)
``closed``        an engineer closed the ticket
``complaint``     a service complaint opened from a low follow-up score (instead of ``opened``;
                  for the account manager: collector/followups.py)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from collector.store import notify as outbox

__all__ = ["EVENTS", "enqueue"]

EVENTS = ("opened", "reopened", "acknowledged", "escalated", "breached", "resolved", "closed", "complaint")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def enqueue(conn: Connection, *, event: str, ticket: Mapping[str, Any], at: datetime) -> None:
    """Record that ``event`` happened to ``ticket`` at ``at``, in ``conn``'s transaction.

    ``ticket`` is the ticket as the API shows it (contract "Ticket"); it needs
    at least ``id``, ``site`` and ``severity`` (1..4).  Datetimes in it are
    written as ISO text.  Raises ValueError for an unknown event or a ticket
    without those fields (a programming error in the caller, not user input).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r} (expected one of {', '.join(EVENTS)})")
    if at.tzinfo is None:
        raise ValueError("naive datetime: notifications take timezone-aware times")
    missing = [key for key in ("id", "site", "severity") if ticket.get(key) is None]
    if missing:
        raise ValueError(f"ticket lacks {', '.join(missing)}")
    severity = ticket["severity"]
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 4:
        raise ValueError(f"ticket severity must be 1..4, got {severity!r}")
    outbox.add_event(conn, {
        "uid": uuid.uuid4().hex,
        "event": event,
        "ticket_id": str(ticket["id"]),
        "site": str(ticket["site"]),
        "severity": severity,
        "ticket": json.dumps(dict(ticket), default=_json_default, ensure_ascii=False, sort_keys=True),
        "at": at,
        "fanned_out_at": None,
    })
