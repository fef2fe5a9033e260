"""A ticket as it stood at an instant, from its append-only history (``ticket_events``).

Records are evidence of a period: what they show of a ticket — level, state,
acknowledgement, resolution, breaches, on-site visit, deadlines and terms — is
the ticket **as of the period's end**, so the November record says the same
whether it is issued on 1 December at 08:00 or a week later.

* Every history event written by this version carries a **snapshot**
  (``ticket_events.snapshot``, :func:`snapshot`) of those fields after the
  change it records; the state at an instant is the last snapshot before it.
* Events written before snapshots existed (schema 0006 and older) are
  **replayed** by their action: ``acknowledge``, ``resolve``, ``close`` and
  ``reopen`` set the state and its time; ``escalate`` takes the levels from its
  note (``level 2 → 1 (name): ...``); ``breach`` the deadline from its note
  (``response deadline ... passed``); ``onsite`` the request time.  Such old
  events do not say how a deadline moved when a worse result raised the level,
  nor the on-site deadline: those come from the ticket as it is now, and the
  level name of the opening level from the opening note.
* A ticket with no history at all (rows written by hand, or a history pruned
  away) is shown from its row: times after the instant are left out, and a
  breach flag counts only when its deadline had passed by then.

:func:`outcomes` judges the deadlines of a state at an instant (met, breached,
pending): the one rule both the patrol records and the annual report use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from checks.result import format_time, parse_time

__all__ = ["SNAPSHOT_FIELDS", "TicketState", "acted_between", "as_of", "outcomes", "snapshot"]

#: What a record shows of a ticket that changes over its life.
SNAPSHOT_FIELDS = ("state", "severity", "level_name", "response_due", "resolve_due", "acknowledged_at",
                   "resolved_at", "closed_at", "response_breached", "resolve_breached", "onsite_requested_at",
                   "onsite_due", "onsite_breached", "terms")
_TIMES = ("response_due", "resolve_due", "acknowledged_at", "resolved_at", "closed_at", "onsite_requested_at",
          "onsite_due")
_ESCALATE_RE = re.compile(r"^level (\d+) → (\d+) \(([^)]*)\)")
_OPENED_RE = re.compile(r"at level (\d+) \(([^)]*)\)")
_BREACH_RE = re.compile(r"^(response|resolve|onsite) deadline")


@dataclass(frozen=True, slots=True)
class TicketState:
    """The changing part of a ticket at one instant (times are aware UTC datetimes)."""

    state: str
    severity: int
    level_name: str
    response_due: datetime
    resolve_due: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    response_breached: bool = False
    resolve_breached: bool = False
    onsite_requested_at: datetime | None = None
    onsite_due: datetime | None = None
    onsite_breached: bool = False
    terms: Mapping[str, Any] | None = None


def snapshot(t: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able snapshot of ticket ``t`` (a row or the ledger's dict) stored with each event."""
    out: dict[str, Any] = {}
    for name in SNAPSHOT_FIELDS:
        value = t.get(name)
        out[name] = format_time(value) if isinstance(value, datetime) else value
    return out


def _from_snapshot(doc: Mapping[str, Any]) -> TicketState:
    values: dict[str, Any] = {name: doc.get(name) for name in SNAPSHOT_FIELDS}
    for name in _TIMES:
        values[name] = parse_time(values[name]) if values[name] else None
    values["severity"] = int(values["severity"])
    values["level_name"] = str(values["level_name"] or "")
    for name in ("response_breached", "resolve_breached", "onsite_breached"):
        values[name] = bool(values[name])
    return TicketState(**values)


def _opening(ticket: Any, events: Sequence[Any]) -> TicketState:
    """The state a ticket opened in, for a history without snapshots."""
    name = ticket.level_name if ticket.severity == ticket.initial_severity else ""
    opened = next((e for e in events if e.action == "open"), None)
    if opened is not None:
        m = _OPENED_RE.search(opened.note or "")
        if m is not None and int(m.group(1)) == ticket.initial_severity:
            name = m.group(2)
    return TicketState(state="open", severity=int(ticket.initial_severity), level_name=name,
                       response_due=ticket.response_due, resolve_due=ticket.resolve_due,
                       terms=getattr(ticket, "terms", None))


def _replay(s: TicketState, e: Any, ticket: Any) -> TicketState:
    """``s`` after old event ``e`` (one without a snapshot)."""
    at = e.at
    if e.action == "acknowledge":
        s = replace(s, acknowledged_at=s.acknowledged_at or at)
    elif e.action == "resolve":
        s = replace(s, resolved_at=at)
    elif e.action == "close":
        s = replace(s, closed_at=at)
    elif e.action == "reopen":
        s = replace(s, resolved_at=None)
    elif e.action == "escalate":
        m = _ESCALATE_RE.match(e.note or "")
        if m is not None:
            s = replace(s, severity=int(m.group(2)), level_name=m.group(3))
    elif e.action == "breach":
        m = _BREACH_RE.match(e.note or "")
        flag: dict[str, Any] = {f"{m.group(1)}_breached": True} if m is not None else {}
        s = replace(s, **flag)
    elif e.action == "onsite":
        s = replace(s, onsite_requested_at=at, onsite_due=ticket.onsite_due)
    return replace(s, state=e.to_state) if e.to_state else s


def _from_row(ticket: Any, at: datetime) -> TicketState:
    """A ticket without history, as far as its row can tell about ``at``."""
    seen = {name: (getattr(ticket, name) if getattr(ticket, name) is not None and getattr(ticket, name) < at
                   else None) for name in ("acknowledged_at", "resolved_at", "closed_at", "onsite_requested_at")}
    state = ("closed" if seen["closed_at"] else "resolved" if seen["resolved_at"] else
             "acknowledged" if seen["acknowledged_at"] else "open")
    onsite_due = ticket.onsite_due if seen["onsite_requested_at"] else None
    return TicketState(
        state=state, severity=int(ticket.severity), level_name=ticket.level_name,
        response_due=ticket.response_due, resolve_due=ticket.resolve_due, **seen,
        response_breached=bool(ticket.response_breached) and ticket.response_due < at,
        resolve_breached=bool(ticket.resolve_breached) and ticket.resolve_due < at,
        onsite_due=onsite_due,
        onsite_breached=bool(ticket.onsite_breached) and onsite_due is not None and onsite_due < at,
        terms=getattr(ticket, "terms", None))


def as_of(ticket: Any, events: Sequence[Any], at: datetime) -> TicketState | None:
    """Ticket ``ticket`` (its row) as it stood just before ``at``, from ``events`` (its history, in order).

    None when the ticket was not open yet.  ``events`` may hold events after ``at``; they are ignored.
    """
    if ticket.opened_at >= at:
        return None
    if not events:
        return _from_row(ticket, at)
    state: TicketState | None = None
    for e in events:
        if e.at >= at:
            continue
        if e.snapshot:
            state = _from_snapshot(e.snapshot)
        else:
            state = _replay(state or _opening(ticket, events), e, ticket)
    return state or _opening(ticket, events)


def acted_between(ticket: Any, events: Sequence[Any], start: datetime, end: datetime) -> list[str]:
    """Which of opened, acknowledged and resolved happened to the ticket in [start, end), in that order."""
    done = {"opened"} if start <= ticket.opened_at < end else set()
    names = {"acknowledge": "acknowledged", "resolve": "resolved"}
    if events:
        done |= {names[e.action] for e in events if e.action in names and start <= e.at < end}
    else:
        done |= {names[a] for a, col in (("acknowledge", ticket.acknowledged_at), ("resolve", ticket.resolved_at))
                 if col is not None and start <= col < end}
    return [name for name in ("opened", "acknowledged", "resolved") if name in done]


def _outcome(done: datetime | None, due: datetime | None, breached: bool, end: datetime) -> str | None:
    if due is None:
        return None
    if breached or (done is not None and done > due) or (done is None and due < end):
        return "breached"
    return "met" if done is not None else "pending"


def outcomes(s: TicketState, end: datetime) -> dict[str, str | None]:
    """``response``, ``resolution`` and ``onsite`` of state ``s`` at ``end``: met, breached or pending.

    A deadline is *met* when kept, *breached* when it was marked breached, kept late, or passed
    unanswered by ``end``, *pending* while it still runs; ``onsite`` is None without a visit request.
    """
    answered = s.acknowledged_at or s.resolved_at
    return {"response": _outcome(answered, s.response_due, s.response_breached, end),
            "resolution": _outcome(s.resolved_at, s.resolve_due, s.resolve_breached, end),
            "onsite": _outcome(s.resolved_at, s.onsite_due, s.onsite_breached, end)}
