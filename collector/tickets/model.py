"""What the parts of the ticket ledger share: states, errors, the API view, one change's writer."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from checks.messages import LANGUAGES, Said
from checks.result import Status, format_time
from collector import notify
from collector.errors import Conflict, Invalid, NotFound, ServiceError
from collector.keys import Keyring, default_keyring
from collector.messages import note_json, note_text, said_json, tsay
from collector.policy import Level, Policies, SitePolicy, default_policies
from collector.store import tickets as store
from collector.store.db import DatabaseClock, time_on
from collector.ticket_history import snapshot

log = logging.getLogger("collector.tickets")  # the name it always had

STATES = ("open", "acknowledged", "resolved", "closed")
SYSTEM = "system"
MONITORING = "monitoring"
AGENT_CHECK, SILENT_ITEM = "agent", "silent"
MANUAL_CHECK = "manual"
MAX_SUMMARY = 1000
MAX_NOTE = 4000
VIA_RE = re.compile(r"[a-z][a-z0-9_\-]{0,31}")  # fullmatch
# A person's ticket action → its name in the audit log (collector/audit.py).
AUDIT_ACTIONS = {"acknowledge": "ticket.ack", "resolve": "ticket.resolve", "close": "ticket.close",
                  "onsite": "ticket.onsite", "followup": "ticket.followup"}
_TIMES = ("opened_at", "response_due", "resolve_due", "acknowledged_at", "resolved_at", "closed_at",
          "last_seen_at", "onsite_requested_at", "onsite_due", "updated_at")


class TicketError(ServiceError):
    pass


class TicketNotFound(TicketError, NotFound):
    pass


class TransitionRefused(TicketError, Conflict):
    pass


class TicketInvalid(TicketError, Invalid):
    pass


def ticket_view(t: Mapping[str, Any]) -> dict[str, Any]:
    """A ticket as the API shows it (without history); times are ISO-8601 UTC."""
    out = {
        "id": t["id"], "site": t["site"], "host": t["host"], "check": t["check"], "item": t["item"],
        "severity": t["severity"], "level_name": t["level_name"], "initial_severity": t["initial_severity"],
        "priority": t["priority"], "key_customer": t["priority"] > 0, "state": t["state"],
        "summary": t["summary"], "reported_via": t["reported_via"], "reported_by": t["reported_by"],
        "occurrences": t["occurrences"], "last_result_id": t["last_result_id"],
        "last_status": t["last_status"], "flapping": bool(t["flapping"]),
        "response_breached": bool(t["response_breached"]), "resolve_breached": bool(t["resolve_breached"]),
        "onsite_breached": bool(t["onsite_breached"]), "reopened_count": t["reopened_count"],
        "terms": t.get("terms"), "assignee": t.get("assignee"),
    }
    out["breached"] = out["response_breached"] or out["resolve_breached"] or out["onsite_breached"]
    for name in _TIMES:
        out[name] = format_time(t[name])
    return out


def event_view(e: Any, lang: str | None = None) -> dict[str, Any]:
    """A history event as the API shows it; for a reader of ``lang`` (a page), the collector's own note
    in that language (a person's note as written)."""
    return {"at": format_time(e.at), "actor": e.actor, "action": e.action, "from_state": e.from_state,
            "to_state": e.to_state, "note": e.note if lang is None else note_text(e.note, e.message, lang)}


@dataclass(frozen=True, slots=True)
class SweepReport:
    breaches: int = 0
    escalations: int = 0
    silent_opened: int = 0
    silent_reopened: int = 0


def status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return str(status)


@dataclass(kw_only=True, eq=False)
class Ticket:
    """One ticket as the ledger holds it while it works: its columns, and which of them changed since
    they were written (``changed``; every assignment after construction counts).

    A batch of results changes a ticket's repeat counters (occurrences, the last result, flapping)
    many times and writes them once: :func:`write_changes` writes the changed columns of all the
    batch's tickets in one executemany (:meth:`ResultRules.on_results`), and before any other write
    of the ticket.  A change the caller writes itself (a state transition, an escalation) goes
    through :meth:`written`, which leaves it out of ``changed``.
    """

    changed: set[str] = field(default_factory=set, repr=False)  # first: the assignments below land in it
    id: int
    site: str
    host: str
    check: str
    item: str
    severity: int
    initial_severity: int
    level_name: str
    priority: int
    state: str
    summary: str
    reported_via: str
    reported_by: str
    opened_at: datetime
    response_due: datetime
    resolve_due: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    occurrences: int
    last_result_id: str | None
    last_status: int | None
    last_seen_at: datetime | None
    flapping: bool
    response_breached: bool
    resolve_breached: bool
    reopened_count: int
    onsite_requested_at: datetime | None
    onsite_due: datetime | None
    onsite_breached: bool
    updated_at: datetime
    terms: dict[str, Any] | None
    assignee: str | None
    messages: str | None = None  # the opening result's message keys (JSON), for readers' languages

    def __post_init__(self) -> None:
        self.changed.clear()  # constructed: nothing changed yet

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "changed":
            self.changed.add(name)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Ticket:
        """A ticket from its stored row (``row._mapping``) or the values it is inserted with.

        On the ingest path for every ticket of a host in a batch: fills the instance's dict directly
        (a tenth of the generated ``__init__``'s time); a missing column raises as ``__init__`` would.
        """
        try:
            values = {name: row[name] for name in _REQUIRED}
        except KeyError:
            return cls(**{name: row[name] for name in COLUMNS if name in row})  # TypeError: says which
        t = object.__new__(cls)
        t.__dict__.update(values, messages=row.get("messages"), changed=set())
        return t

    def row(self) -> dict[str, Any]:
        """Every column by name: what the history snapshot, the API view and notifications read."""
        return {name: getattr(self, name) for name in COLUMNS}

    def written(self, values: Mapping[str, Any]) -> None:
        """Take ``values`` that the caller has just written to the ticket's row."""
        for name, value in values.items():
            setattr(self, name, value)
        self.changed.difference_update(values)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Ticket) if f.name != "changed")
_REQUIRED: tuple[str, ...] = tuple(name for name in COLUMNS if name != "messages")


def write_changes(conn: Connection, batch: Sequence[Ticket]) -> None:
    """Write the changed columns of ``batch``'s tickets: one executemany over the columns any of them
    changed (a ticket's other columns among those hold what its row holds: it was read under the lock)."""
    dirty = [t for t in batch if t.changed]
    if not dirty:
        return
    columns = sorted(set().union(*(t.changed for t in dirty)))
    store.update_tickets(conn, [{"id": t.id, **{c: getattr(t, c) for c in columns}} for t in dirty], columns)
    for t in dirty:
        t.changed.clear()


class Change:
    """Writes to one ticket within a transaction, with its history and notification."""

    def __init__(self, conn: Connection, now: datetime, policies: Policies | None = None) -> None:
        self.conn = conn
        self.now = now
        self.policies = policies  # for the site's level names in notifications

    def record(self, t: Ticket, *, actor: str, action: str, note: str,
               from_state: str | None = None, to_state: str | None = None,
               event: str | None = None) -> None:
        """Append an event (a note the collector wrote, :func:`collector.messages.tsay`, keeps its key)."""
        row = t.row()
        store.add_event(self.conn, ticket_id=t.id, at=self.now, actor=actor, action=action,
                        from_state=from_state, to_state=to_state, note=note, snapshot=snapshot(row),
                        message=note_json(note))
        if event is not None:
            view = ticket_view(row)
            if t.messages:  # the opening result's (or the collector's) keys: read in its language
                view["messages"] = t.messages
            if self.policies is not None:  # the site's own level names, in each language
                lv = self.policies.for_site(t.site).level(t.severity)
                if lv.says(t.level_name):
                    view["level_names"] = {lang: lv.name_in(lang) for lang in LANGUAGES}
            notify.enqueue(self.conn, event=event, ticket=view, at=self.now)

    def open(self, values: dict[str, Any], *, actor: str, note: str, event: str = "opened"
             ) -> Ticket | None:
        ticket_id = store.insert_ticket(self.conn, values)
        if ticket_id is None:
            return None
        t = Ticket.from_row({**values, "id": ticket_id})
        self.record(t, actor=actor, action="open", note=note, to_state="open", event=event)
        return t

    def move(self, t: Ticket, from_states: Sequence[str], values: dict[str, Any], *,
             actor: str, action: str, note: str, event: str | None) -> bool:
        values = {**values, "updated_at": self.now}
        if not store.transition(self.conn, t.id, from_states, values):
            return False
        before = t.state
        t.written(values)
        self.record(t, actor=actor, action=action, note=note, from_state=before, to_state=t.state,
                    event=event)
        return True


def stored_term(policy: SitePolicy, term: Any, always: bool) -> dict[str, str]:
    """A term as stored with a ticket: as the policy wrote it (a key customer's: as it applies)."""
    applied = term.scaled(policy.key_factor) if policy.key_customer else term
    return {"within": applied.text, "clock": "24x7" if always else "business"}


def level_names(policy: SitePolicy, severity: int) -> dict[str, str]:
    """The arguments ``name_zh``/``name_en`` of a ticket text naming level ``severity`` (the site's own names)."""
    lv = policy.level(severity)
    return {"name_zh": lv.name_in("zh_CN"), "name_en": lv.name_in("en")}


def level_terms(policy: SitePolicy, lv: Level) -> dict[str, dict[str, str]]:
    return {"response": stored_term(policy, lv.response, lv.always),
            "resolve": stored_term(policy, lv.resolve, lv.always)}


def new_ticket(policy: SitePolicy, *, site: str, host: str, check: str, item: str, severity: int,
                summary: str, via: str, by: str, now: datetime) -> dict[str, Any]:
    response_due, resolve_due = policy.deadlines(severity, now)
    return {
        "site": site, "host": host, "check": check, "item": item, "severity": severity,
        "initial_severity": severity, "level_name": policy.level(severity).name,
        "priority": policy.priority, "state": "open", "summary": summary[:MAX_SUMMARY],
        "reported_via": via, "reported_by": by, "opened_at": now, "response_due": response_due,
        "resolve_due": resolve_due, "acknowledged_at": None, "resolved_at": None, "closed_at": None,
        "occurrences": 1, "last_result_id": None, "last_status": None, "last_seen_at": None,
        "flapping": False, "response_breached": False, "resolve_breached": False, "reopened_count": 0,
        "onsite_requested_at": None, "onsite_due": None, "onsite_breached": False, "updated_at": now,
        "terms": level_terms(policy, policy.level(severity)), "assignee": None,
        "messages": said_json(summary),  # the collector's own summary (tsay): readers read it in their language
    }

def clean_note(text: Any, *, required: bool = False, problems: list[str] | None = None) -> str:
    if isinstance(text, Said):  # the collector's own words (tsay): kept with their key
        return text
    if text is None or (isinstance(text, str) and not text.strip()):
        if required:
            raise TicketInvalid(tsay("tickets.invalid.comment", max=MAX_NOTE))
        return ""
    if not isinstance(text, str) or len(text) > MAX_NOTE or "\x00" in text:
        message = tsay("tickets.invalid.note", max=MAX_NOTE)
        if problems is not None:
            problems.append(message)
            return ""
        raise TicketInvalid(message)
    return text.strip()


class LedgerBase:
    """What every part of the ledger shares: the engine, the policies, the clock and the audit keys.

    People's actions are written to the audit log with ``keys`` (default: the
    key file of the environment, :func:`collector.keys.default_keyring`).
    """

    def __init__(self, engine: Engine, policies: Policies | None = None,
                 clock: Callable[[], datetime] | None = None, keys: Keyring | None = None) -> None:
        self.engine = engine
        self.policies = policies or default_policies()
        self.clock = clock or DatabaseClock(engine)  # the clock every collector shares; tests inject theirs
        self.keys = keys if keys is not None else default_keyring()

    def _now(self, conn: Connection) -> datetime:
        """The time of a change: the injected clock (tests) or the database's, shared by all collectors."""
        return time_on(self.clock, conn)

    @staticmethod
    def _flush(conn: Connection, t: Ticket) -> None:
        """Write ``t``'s changed columns now (before another write of the ticket)."""
        write_changes(conn, [t])
