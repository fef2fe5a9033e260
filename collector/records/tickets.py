"""The tickets of a record: each as it stood at the end of the record's period.

Both the patrol records and the annual report show tickets through
:func:`ticket_lines`: level, state, times, deadlines, breaches and the on-site
visit come from the ticket's history (:mod:`collector.ticket_history`), never
from the ticket as it is when the record is issued, and the terms are said as
the policy wrote them, in the record's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from checks.result import format_time
from collector.messages import ticket_summary
from collector.policy import DEFAULT_LEVELS, Level, level_name
from collector.records.model import TicketLine
from collector.store import tickets as ticket_store
from collector.terms import say_term
from collector.ticket_history import TicketState, acted_between, as_of, outcomes

__all__ = ["ticket_line", "ticket_lines"]


def _term(state: TicketState, key: str, lang: str) -> str:
    spec = state.terms.get(key) if state.terms else None
    if not isinstance(spec, dict) or not isinstance(spec.get("within"), str):
        return ""
    return say_term(spec["within"], lang, business=spec.get("clock") == "business")


def ticket_line(t: Any, state: TicketState, events: list[str], end: datetime, lang: str,
                levels: Sequence[Level] = DEFAULT_LEVELS) -> TicketLine:
    """Ticket ``t`` (its row) as it stood at ``end`` (``state``), for a record in ``lang``."""
    sla = outcomes(state, end)
    return TicketLine(
        id=int(t.id), host=t.host, check=t.check, item=t.item, severity=state.severity,
        level_name=level_name(state.level_name, state.severity, lang, levels),
        summary=ticket_summary(t.summary, t.check, t.item, getattr(t, "messages", None), lang),
        state=state.state, opened_at=format_time(t.opened_at),
        acknowledged_at=format_time(state.acknowledged_at), resolved_at=format_time(state.resolved_at),
        closed_at=format_time(state.closed_at), response_due=format_time(state.response_due),
        resolve_due=format_time(state.resolve_due), events=events, response=sla["response"] or "pending",
        resolution=sla["resolution"] or "pending", onsite_requested_at=format_time(state.onsite_requested_at),
        onsite_due=format_time(state.onsite_due), onsite=sla["onsite"], response_term=_term(state, "response", lang),
        resolve_term=_term(state, "resolve", lang))


def ticket_lines(conn: Connection, rows: list[Any], start: datetime, end: datetime, lang: str, *,
                 acted_only: bool, levels: Sequence[Level] = DEFAULT_LEVELS) -> list[TicketLine]:
    """Lines of tickets ``rows`` as of ``end``; with ``acted_only``, those opened, acknowledged or resolved
    in [start, end)."""
    histories = ticket_store.histories(conn, [int(t.id) for t in rows], end)
    out = []
    for t in rows:
        events = histories.get(int(t.id), [])
        state = as_of(t, events, end)
        acted = acted_between(t, events, start, end)
        if state is None or (acted_only and not acted):
            continue
        out.append(ticket_line(t, state, acted, end, lang, levels))
    return out
