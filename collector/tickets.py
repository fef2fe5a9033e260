"""Fault tickets: results → tickets, SLA deadlines, recovery, escalation and the lifecycle.

States of a ticket::

    open ──ack──▶ acknowledged ──resolve──▶ resolved ──close──▶ closed
      └──────────────resolve──────────────▶    │
      ◀──────── reopened (a new failure within the reopen window) ┘

``open``          the problem is there and nobody has taken it; the response
                  clock runs until acknowledgement (or resolution)
``acknowledged``  an engineer took it; the resolution clock runs
``resolved``      recovered: automatically after M good results ("recovered at
                  … (auto)") or by an engineer; an engineer closes it
``closed``        done; a new failure opens a new ticket

After resolution an engineer records the customer follow-up (回访,
:meth:`Tickets.follow_up`; rules in :mod:`collector.followups`); a low score
opens a service complaint for the account manager, it never reopens the
ticket.

At most one ticket per (site, host, check, item) is open or acknowledged;
the database enforces it (``uq_tickets_live``).  Every change is appended to
the ticket's history (``ticket_events``: who, when, what, from and to which
state) and the matching notification is written to the outbox in the same
transaction (:func:`collector.notify.enqueue`), so neither is lost nor
duplicated.

How results become tickets (per site policy, :mod:`collector.policy`): only
new results count, in order of ``started_at``; a result older than the
item's newest stored one changes no streak (a late bad one still counts as
an occurrence of a live ticket).  A result is *bad* when the
item's mapping rule opens a level for its status.  ``after`` consecutive
bad results open a ticket at the most severe level seen in the streak
(a worse status later raises a live ticket's level: ``escalated``),
unless a maintenance window covers the host at the result's time; a bad
result on a live ticket adds an occurrence.  If the item changes between
bad and good ``flap_changes`` times within the last ``flap_window`` results
it is flapping: a ticket opens at once (marked ``flapping``) and is not
resolved automatically while the flapping lasts.  ``recover_after``
consecutive good results resolve a live ticket.  A failure within the
reopen window after a resolution reopens that ticket (``reopened_count``
+1) instead of opening a new one.  An agent silent longer than its grace
opens ``agent``/``silent``; its next delivery resolves it.  An enrolled host that never
reported counts from its enrolment (one awaiting approval does not count; a retired one
never does).

Exceptions (each knows its HTTP status)::

    TicketError
    ├── TicketNotFound      404
    ├── TransitionRefused   409: the ticket is not in a state that allows it
    └── TicketInvalid       422: a bad field in a manual ticket or a comment
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from checks.result import Status, format_time, is_name
from collector import audit, followups, notify
from collector.dates import credible_until
from collector.keys import Keyring, default_keyring
from collector.policy import Level, Policies, Rule, SitePolicy, default_policies
from collector.store import followups as followup_store
from collector.store import tickets as store
from collector.store.db import DatabaseClock, reading, time_on, writing
from collector.store.tables import LIVE_STATES
from collector.ticket_history import snapshot

__all__ = [
    "AGENT_CHECK",
    "SILENT_ITEM",
    "STATES",
    "SweepReport",
    "TicketError",
    "TicketInvalid",
    "TicketNotFound",
    "Tickets",
    "TransitionRefused",
    "ticket_view",
]

log = logging.getLogger(__name__)

STATES = ("open", "acknowledged", "resolved", "closed")
SYSTEM = "system"
MONITORING = "monitoring"
AGENT_CHECK, SILENT_ITEM = "agent", "silent"
MANUAL_CHECK = "manual"
MAX_SUMMARY = 1000
MAX_NOTE = 4000
_VIA_RE = re.compile(r"[a-z][a-z0-9_\-]{0,31}")  # fullmatch
# A person's ticket action → its name in the audit log (collector/audit.py).
_AUDIT_ACTIONS = {"acknowledge": "ticket.ack", "resolve": "ticket.resolve", "close": "ticket.close",
                  "onsite": "ticket.onsite", "followup": "ticket.followup"}
_TIMES = ("opened_at", "response_due", "resolve_due", "acknowledged_at", "resolved_at", "closed_at",
          "last_seen_at", "onsite_requested_at", "onsite_due", "updated_at")


class TicketError(Exception):
    status_code = 400


class TicketNotFound(TicketError):
    status_code = 404


class TransitionRefused(TicketError):
    status_code = 409


class TicketInvalid(TicketError):
    status_code = 422


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


def _event_view(e: Any) -> dict[str, Any]:
    return {"at": format_time(e.at), "actor": e.actor, "action": e.action, "from_state": e.from_state,
            "to_state": e.to_state, "note": e.note}


@dataclass(frozen=True, slots=True)
class SweepReport:
    breaches: int = 0
    escalations: int = 0
    silent_opened: int = 0
    silent_reopened: int = 0


def _status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return str(status)


class _Change:
    """Writes to one ticket within a transaction, with its history and notification."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now

    def record(self, t: dict[str, Any], *, actor: str, action: str, note: str,
               from_state: str | None = None, to_state: str | None = None,
               event: str | None = None) -> None:
        store.add_event(self.conn, ticket_id=t["id"], at=self.now, actor=actor, action=action,
                        from_state=from_state, to_state=to_state, note=note, snapshot=snapshot(t))
        if event is not None:
            notify.enqueue(self.conn, event=event, ticket=ticket_view(t), at=self.now)

    def open(self, values: dict[str, Any], *, actor: str, note: str, event: str = "opened"
             ) -> dict[str, Any] | None:
        ticket_id = store.insert_ticket(self.conn, values)
        if ticket_id is None:
            return None
        t = {**values, "id": ticket_id}
        self.record(t, actor=actor, action="open", note=note, to_state="open", event=event)
        return t

    def move(self, t: dict[str, Any], from_states: Sequence[str], values: dict[str, Any], *,
             actor: str, action: str, note: str, event: str | None) -> bool:
        values = {**values, "updated_at": self.now}
        if not store.transition(self.conn, t["id"], from_states, values):
            return False
        before = t["state"]
        t.update(values)
        self.record(t, actor=actor, action=action, note=note, from_state=before, to_state=t["state"],
                    event=event)
        return True


def _term(policy: SitePolicy, term: Any, always: bool) -> dict[str, str]:
    """A term as stored with a ticket: as the policy wrote it (a key customer's: as it applies)."""
    applied = term.scaled(policy.key_factor) if policy.key_customer else term
    return {"within": applied.text, "clock": "24x7" if always else "business"}


def _level_terms(policy: SitePolicy, lv: Level) -> dict[str, dict[str, str]]:
    return {"response": _term(policy, lv.response, lv.always), "resolve": _term(policy, lv.resolve, lv.always)}


def _new_ticket(policy: SitePolicy, *, site: str, host: str, check: str, item: str, severity: int,
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
        "terms": _level_terms(policy, policy.level(severity)), "assignee": None,
    }


class Tickets:
    """The ticket ledger of one database under one set of site policies.

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

    # -- from results (called by the ingest transaction) -----------------------------------

    def lock(self, conn: Connection, site: str, host: str) -> None:
        """Take the host's ticket lock; call first in the ingest transaction."""
        store.lock_host(conn, site, host)

    def on_results(self, conn: Connection, site: str, host: str, rows: Sequence[Mapping[str, Any]],
                   now: datetime) -> None:
        """Apply the rules to the newly stored ``rows`` of one host (an agent's batch)."""
        policy = self.policies.for_site(site)
        found = store.host_tickets(conn, site, host, now - policy.reopen_window)
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for row in found:  # ordered by id: a live ticket wins over a resolved one, newer over older
            key = (row.check, row.item)
            held = by_key.get(key)
            if held is None or held["state"] not in LIVE_STATES:
                by_key[key] = dict(row._mapping)
        change = _Change(conn, now)
        silent = by_key.get((AGENT_CHECK, SILENT_ITEM))
        if silent is not None and silent["state"] in LIVE_STATES:
            change.move(silent, LIVE_STATES, {"state": "resolved", "resolved_at": now}, actor=SYSTEM,
                        action="resolve", event="resolved",
                        note=f"recovered at {format_time(now)} (auto): the agent reported again")
        if not rows:
            return
        known = store.streaks(conn, site, host)
        groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        rules: dict[tuple[str, str], Rule] = {}
        relevant: set[tuple[str, str]] = set()
        for r in rows:
            key = (r["check"], r["item"])
            rule = rules.get(key)
            if rule is None:
                found_rule = policy.rule_for(*key)
                if found_rule is None:
                    continue
                rule = rules[key] = found_rule
            groups.setdefault(key, []).append(r)
            if r["status"] in rule.open:
                relevant.add(key)
        relevant |= {k for k in groups if k in known or k in by_key}
        if not relevant:
            return
        newest = store.latest_started(conn, site, host, relevant, credible_until(now))
        changed: dict[tuple[str, str], store.Streak] = {}
        clean: list[tuple[str, str]] = []
        pending: list[dict[str, Any]] = []  # tickets with new occurrences: one executemany at the end
        for key in sorted(relevant):
            cutoff = newest.get(key)
            todo = sorted((r for r in groups[key] if cutoff is None or r["started_at"] > cutoff),
                          key=lambda r: r["started_at"])
            rule = rules[key]
            ticket = by_key.get(key)
            late_bad = sum(1 for r in groups[key] if cutoff is not None and r["started_at"] <= cutoff
                           and r["status"] in rule.open)
            if late_bad and ticket is not None and ticket["state"] in LIVE_STATES:
                # measured before the newest result: an occurrence, but no step of the streak
                ticket.update(occurrences=ticket["occurrences"] + late_bad, updated_at=now, _dirty=True)
            if not todo:
                if ticket is not None and ticket.get("_dirty"):
                    pending.append(ticket)
                continue
            streak = known.get(key) or store.Streak()
            for r in todo:
                ticket = self._step(change, policy, rule, streak, ticket, r, site, host)
            if ticket is not None and ticket.get("_dirty"):
                pending.append(ticket)
            live = ticket is not None and ticket["state"] in LIVE_STATES
            if not live and "b" not in streak.recent and streak.good_count >= rule.recover_after:
                if streak.stored:
                    clean.append(key)
            else:
                changed[key] = streak
        store.update_tickets(conn, [self._counted(t) for t in pending if t.pop("_dirty", False)])
        store.save_streaks(conn, site, host, changed, now)
        store.delete_streaks(conn, site, host, clean)

    def _step(self, change: _Change, policy: SitePolicy, rule: Rule, streak: store.Streak,
              ticket: dict[str, Any] | None, r: Mapping[str, Any], site: str, host: str
              ) -> dict[str, Any] | None:
        level = rule.level_for(r["status"])
        bad = level is not None
        streak.recent = (streak.recent + ("b" if bad else "g"))[-rule.flap_window:]
        if bad:
            assert level is not None
            streak.bad_count += 1
            streak.good_count = 0
            streak.level = level if streak.level is None else min(streak.level, level)
        else:
            streak.good_count += 1
            streak.bad_count = 0
            streak.level = None
        flapping = streak.changes() >= rule.flap_changes
        live = ticket is not None and ticket["state"] in LIVE_STATES
        now = change.now
        if live:
            assert ticket is not None
            ticket.update(last_result_id=r["uid"], last_status=r["status"], updated_at=now, _dirty=True)
            if bad:
                ticket["occurrences"] += 1
                ticket["last_seen_at"] = r["started_at"]
                if level is not None and level < ticket["severity"]:
                    self._worsen(change, policy, ticket, level, r)
                if flapping and not ticket["flapping"]:
                    ticket["flapping"] = True
                    self._flush(change.conn, ticket)
                    change.record(ticket, actor=SYSTEM, action="flapping",
                                  note=f"flapping: {streak.changes()} changes between bad and good in the "
                                       f"last {len(streak.recent)} results")
            elif streak.good_count >= rule.recover_after and not flapping \
                    and ticket["reported_via"] == MONITORING:  # a person's ticket is closed by people
                self._flush(change.conn, ticket)
                change.move(ticket, LIVE_STATES, {"state": "resolved", "resolved_at": now}, actor=SYSTEM,
                            action="resolve", event="resolved",
                            note=f"recovered at {format_time(r['started_at'])} (auto): "
                                 f"{streak.good_count} consecutive results without a fault "
                                 f"({_status_name(r['status'])}: {r['summary'][:200]})")
            return ticket
        if not bad or (streak.bad_count < rule.after and not flapping):
            return ticket
        if policy.in_maintenance(host, r["started_at"]):
            log.debug("tickets: %s/%s %s %s is bad during maintenance; nothing opens",
                      site, host, r["check"], r["item"])
            return ticket
        what = (f"{_status_name(r['status'])} {streak.bad_count} time(s) in a row"
                + (", flapping" if flapping else "") + f": {r['summary'][:300]}")
        if ticket is not None and ticket["state"] == "resolved" and ticket["resolved_at"] is not None \
                and ticket["resolved_at"] >= now - policy.reopen_window:
            values = {"state": "open", "resolved_at": None, "reopened_count": ticket["reopened_count"] + 1,
                      "occurrences": ticket["occurrences"] + 1, "last_result_id": r["uid"],
                      "last_status": r["status"], "last_seen_at": r["started_at"],
                      "flapping": bool(ticket["flapping"] or flapping)}
            if change.move(ticket, ("resolved",), values, actor=SYSTEM, action="reopen", event="reopened",
                           note=f"failed again at {format_time(r['started_at'])} within the reopen window "
                                f"of its resolution: {what}"):
                return ticket
        severity = streak.level or level or 1
        values = _new_ticket(policy, site=site, host=host, check=r["check"], item=r["item"],
                             severity=severity, summary=f"{r['check']} {r['item']}: {r['summary']}",
                             via=MONITORING, by=SYSTEM, now=now)
        values.update(last_result_id=r["uid"], last_status=r["status"], last_seen_at=r["started_at"],
                      flapping=flapping, occurrences=streak.bad_count if not flapping else 1)
        opened = change.open(values, actor=SYSTEM,
                             note=f"opened from monitoring at level {severity} "
                                  f"({values['level_name']}): {what}")
        if opened is None:  # someone else's live ticket for this key: count this one there
            existing = store.live_ticket(change.conn, site, host, r["check"], r["item"])
            if existing is None:
                return ticket
            opened = dict(existing._mapping)
            opened.update(occurrences=opened["occurrences"] + 1, last_result_id=r["uid"],
                          last_status=r["status"], last_seen_at=r["started_at"], updated_at=now, _dirty=True)
        return opened

    def _worsen(self, change: _Change, policy: SitePolicy, t: dict[str, Any], level: int,
                r: Mapping[str, Any]) -> None:
        """The item got worse (e.g. UNKNOWN → CRITICAL): raise the level, keep the sooner deadlines."""
        self._flush(change.conn, t)
        before = t["severity"]
        response_due, resolve_due = policy.deadlines(level, t["opened_at"])
        terms = dict(t.get("terms") or {})
        for key, due in (("response", response_due), ("resolve", resolve_due)):
            if due < t[f"{key}_due"]:
                terms[key] = _level_terms(policy, policy.level(level))[key]
        values = {"severity": level, "level_name": policy.level(level).name,
                  "response_due": min(t["response_due"], response_due),
                  "resolve_due": min(t["resolve_due"], resolve_due), "updated_at": change.now,
                  "terms": terms or None}
        store.update_ticket(change.conn, t["id"], values)
        t.update(values)
        change.record(t, actor=SYSTEM, action="escalate", event="escalated",
                      note=f"level {before} → {level} ({t['level_name']}): {_status_name(r['status'])} at "
                           f"{format_time(r['started_at'])}: {r['summary'][:300]}")

    @staticmethod
    def _counted(t: Mapping[str, Any]) -> dict[str, Any]:
        return {k: t[k] for k in ("id", *store.COUNTED)}

    @classmethod
    def _flush(cls, conn: Connection, t: dict[str, Any]) -> None:
        if t.pop("_dirty", False):
            store.update_tickets(conn, [cls._counted(t)])

    # -- for people (the API) -------------------------------------------------------------

    def list(self, f: store.TicketFilter) -> list[dict[str, Any]]:
        with reading(self.engine) as conn:
            return [ticket_view(r._mapping) for r in store.find_tickets(conn, f)]

    def get(self, ticket_id: int) -> dict[str, Any]:
        """One ticket with its history, its follow-up (or null) and, while one is waited for, when it is due."""
        now = self.clock()
        with reading(self.engine) as conn:
            row = store.get_ticket(conn, ticket_id)
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            out = ticket_view(row._mapping)
            out["history"] = [_event_view(e) for e in store.history(conn, ticket_id)]
            done = followup_store.followup_of(conn, ticket_id)
            out["followup"] = followups.followup_view(done) if done is not None else None
            out["followup_due"] = out["followup_overdue"] = None
            if done is None and row.state == "resolved" and row.resolved_at is not None:
                policy = self.policies.for_site(row.site)
                if followups.needs_followup(policy, followup_store.is_handled(conn, ticket_id)):
                    out.update(followups.due_view(policy, row.resolved_at, now))
        return out

    def waiting_followups(self, f: store.TicketFilter, *, overdue_only: bool = False) -> Sequence[dict[str, Any]]:
        """Resolved tickets still waiting for their customer follow-up, the soonest due first."""
        now = self.clock()
        with reading(self.engine) as conn:
            rows = followup_store.waiting(conn, site=f.site, host=f.host, severities=f.severities)
        views = [{**ticket_view(r._mapping), **followups.due_view(policy, r.resolved_at, now)}
                 for r in rows
                 if followups.needs_followup(policy := self.policies.for_site(r.site), bool(r.handled))]
        wanted = sorted((v for v in views if v["followup_overdue"] or not overdue_only),
                        key=lambda t: (t["followup_due"], -t["priority"], t["severity"], t["id"]))
        return wanted[:f.limit]

    def follow_up(self, ticket_id: int, actor: str, *, satisfaction: Any, contact: Any,
                  note: Any = None) -> dict[str, Any]:
        """Record the customer follow-up of a resolved ticket; a low score opens a service complaint.

        Answers the ticket (as :meth:`get`) with ``complaint``: the complaint ticket opened, or None.
        """
        score, contact, note, problems = followups.check_followup(satisfaction, contact, note)
        if problems:
            raise TicketInvalid("; ".join(problems))
        now = self.clock()
        with reading(self.engine) as conn:
            found = store.get_ticket(conn, ticket_id)
        if found is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        complaint: dict[str, Any] | None = None
        with writing(self.engine) as conn:
            store.lock_host(conn, found.site, found.host)
            row = store.get_ticket(conn, ticket_id, lock=True)
            assert row is not None  # tickets are never deleted
            t = dict(row._mapping)
            if t["state"] not in followups.FOLLOWUP_STATES:
                raise TransitionRefused(f"ticket {ticket_id} is {t['state']}: a follow-up is made after the "
                                        "ticket is resolved")
            done = followup_store.followup_of(conn, ticket_id)
            if done is not None:
                raise TransitionRefused(f"ticket {ticket_id} was followed up at {format_time(done.at)} by "
                                        f"{done.actor} already")
            policy = self.policies.for_site(t["site"])
            change = _Change(conn, now)
            said = f"satisfaction {score}/5, spoken to {contact}" + (f": {note}" if note else "")
            if followups.is_complaint(score):
                complaint = self._complain(change, policy, t, actor=actor, score=score, note=note, said=said)
            if followup_store.insert_followup(conn, {
                    "ticket_id": ticket_id, "site": t["site"], "at": now, "actor": actor, "satisfaction": score,
                    "contact": contact, "note": note,
                    "complaint_ticket_id": complaint["id"] if complaint is not None else None}) is None:
                raise TransitionRefused(f"ticket {ticket_id} was followed up meanwhile")
            change.record(t, actor=actor, action="followup",
                          note=f"customer follow-up: {said}" + (f"; service complaint #{complaint['id']} opened"
                                                                if complaint is not None else ""))
            audit.append(conn, self.keys, actor=actor, action=_AUDIT_ACTIONS["followup"],
                         target=f"ticket:{ticket_id}",
                         detail={"satisfaction": score, "contact": contact, "note": note,
                                 "complaint": complaint["id"] if complaint is not None else None}, at=now)
        out = self.get(ticket_id)
        out["complaint"] = ticket_view(complaint) if complaint is not None else None
        return out

    def _complain(self, change: _Change, policy: SitePolicy, t: dict[str, Any], *, actor: str, score: int,
                  note: str, said: str) -> dict[str, Any]:
        """Open the service complaint of ticket ``t``'s low follow-up score, for the account manager."""
        level = policy.complaint_level
        summary = followups.complaint_summary(policy.records.language, ticket_id=t["id"], satisfaction=score,
                                              note=note)
        values = _new_ticket(policy, site=t["site"], host=t["host"], check=followups.COMPLAINT_CHECK,
                             item=f"ticket-{t['id']}", severity=level, summary=summary,
                             via=followups.FOLLOWUP_VIA, by=actor, now=change.now)
        manager = policy.followup.account_manager
        values["assignee"] = manager
        whom = f"for {manager}" if manager else "for the account manager (none named: followup.account_manager)"
        opened = change.open(values, actor=actor, event="complaint",
                             note=f"service complaint from the follow-up of ticket #{t['id']} ({said}), {whom}, "
                                  f"at level {level} ({values['level_name']})")
        if opened is None:
            raise TransitionRefused(f"ticket {t['id']}: its service complaint is open already")
        return opened

    def open_manual(self, *, actor: str, site: str, host: str, severity: int, summary: str,
                    reported_via: str, check: str | None = None, item: str | None = None,
                    note: str | None = None) -> tuple[dict[str, Any], bool]:
        """Open a ticket by hand; (ticket, True) if opened, (ticket, False) if one was live for the key."""
        problems = []
        for name, value in (("site", site), ("host", host), ("check", check or MANUAL_CHECK)):
            if not is_name(value):
                problems.append(f"{name}: expected 1-64 letters, digits, '.', '_' or '-' (got {value!r})")
        policy = self.policies.for_site(site) if isinstance(site, str) else self.policies.default
        n = len(policy.levels)
        if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= n:
            problems.append(f"severity: expected 1-{n} (the site's scheme has {n} levels; 1 is most severe)")
        summary = summary.strip() if isinstance(summary, str) else ""
        if not summary or len(summary) > MAX_SUMMARY or "\x00" in summary:
            problems.append(f"summary: expected a description of 1-{MAX_SUMMARY} characters")
        if not isinstance(reported_via, str) or not _VIA_RE.fullmatch(reported_via):
            problems.append("reported_via: expected a short lowercase word such as hotline, phone, email, "
                            f"customer or feedback (got {reported_via!r})")
        if item is not None and (not isinstance(item, str) or not item.strip() or len(item) > 255
                                 or "\x00" in item):
            problems.append("item: expected 1-255 characters")
        note = _note(note, required=False, problems=problems)
        if problems:
            raise TicketInvalid("; ".join(problems))
        check = check or MANUAL_CHECK
        item = item.strip() if item else f"{reported_via}-{uuid.uuid4().hex[:8]}"
        with writing(self.engine) as conn:
            store.lock_host(conn, site, host)
            now = self._now(conn)
            change = _Change(conn, now)
            text = f"reported via {reported_via} by {actor}" + (f": {note}" if note else "")
            existing = store.live_ticket(conn, site, host, check, item)
            if existing is not None:
                t = dict(existing._mapping)
                t.update(occurrences=t["occurrences"] + 1, updated_at=now, _dirty=True)
                self._flush(conn, t)
                change.record(t, actor=actor, action="comment", note=f"reported again: {text}")
                audit.append(conn, self.keys, actor=actor, action="ticket.open", target=f"ticket:{t['id']}",
                             detail={"created": False, "site": site, "host": host, "reported_via": reported_via,
                                     "note": note}, at=now)
                return ticket_view(t), False
            values = _new_ticket(policy, site=site, host=host, check=check, item=item, severity=severity,
                                 summary=summary, via=reported_via, by=actor, now=now)
            opened = change.open(values, actor=actor, note=f"opened at level {severity} "
                                                            f"({values['level_name']}); {text}")
            assert opened is not None  # the host lock and the lookup above leave no live ticket for the key
            audit.append(conn, self.keys, actor=actor, action="ticket.open", target=f"ticket:{opened['id']}",
                         detail={"created": True, "site": site, "host": host, "severity": severity,
                                 "summary": values["summary"], "reported_via": reported_via, "note": note},
                         at=now)
            return ticket_view(opened), True

    def _act(self, ticket_id: int, actor: str, *, allowed: Sequence[str], action: str, event: str | None,
             values: Callable[[dict[str, Any], datetime], dict[str, Any]], note: str, refuse: str
             ) -> dict[str, Any]:
        with writing(self.engine) as conn:
            row = store.get_ticket(conn, ticket_id, lock=True)
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            now = self._now(conn)
            t = dict(row._mapping)
            if t["state"] not in allowed:
                raise TransitionRefused(f"ticket {ticket_id} is {t['state']}: {refuse}")
            change = _Change(conn, now)
            before = t["state"]
            if not change.move(t, allowed, values(t, now), actor=actor, action=action, note=note,
                               event=event):
                raise TransitionRefused(f"ticket {ticket_id} changed meanwhile: {refuse}")
            audit.append(conn, self.keys, actor=actor, action=_AUDIT_ACTIONS[action], target=f"ticket:{ticket_id}",
                         detail={"from": before, "to": t["state"], "note": note}, at=now)
            return ticket_view(t)

    def acknowledge(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        return self._act(ticket_id, actor, allowed=("open",), action="acknowledge", event="acknowledged",
                         values=lambda t, now: {"state": "acknowledged",
                                                "acknowledged_at": t["acknowledged_at"] or now},
                         note=_note(note) or "acknowledged", refuse="only an open ticket can be acknowledged")

    def resolve(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        return self._act(ticket_id, actor, allowed=LIVE_STATES, action="resolve", event="resolved",
                         values=lambda t, now: {"state": "resolved", "resolved_at": now},
                         note=_note(note) or "resolved",
                         refuse="only an open or acknowledged ticket can be resolved")

    def close(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        return self._act(ticket_id, actor, allowed=("resolved",), action="close", event="closed",
                         values=lambda t, now: {"state": "closed", "closed_at": now},
                         note=_note(note) or "closed", refuse="only a resolved ticket can be closed")

    def request_onsite(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        """Mark an unsolved remote case "on-site visit needed"; its own deadline starts now."""
        site_policy: dict[str, SitePolicy] = {}

        def values(t: dict[str, Any], now: datetime) -> dict[str, Any]:
            if t["onsite_requested_at"] is not None:
                raise TransitionRefused(f"ticket {ticket_id}: an on-site visit was requested at "
                                        f"{format_time(t['onsite_requested_at'])} already")
            policy = site_policy.setdefault(t["site"], self.policies.for_site(t["site"]))
            terms = {**(t.get("terms") or {}), "onsite": _term(policy, policy.onsite_due, policy.onsite_always)}
            return {"onsite_requested_at": now, "onsite_due": policy.onsite_deadline(now),
                    "onsite_breached": False, "terms": terms}

        return self._act(ticket_id, actor, allowed=LIVE_STATES, action="onsite", event=None, values=values,
                         note=_note(note) or "on-site visit needed",
                         refuse="an on-site visit is for an open or acknowledged ticket")

    def comment(self, ticket_id: int, actor: str, text: str | None) -> dict[str, Any]:
        body = _note(text, required=True)
        with writing(self.engine) as conn:
            row = store.get_ticket(conn, ticket_id, lock=True)
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            now = self._now(conn)
            t = dict(row._mapping)
            _Change(conn, now).record(t, actor=actor, action="comment", note=body)
            audit.append(conn, self.keys, actor=actor, action="ticket.comment", target=f"ticket:{ticket_id}",
                         detail={"note": body}, at=now)
            return ticket_view(t)

    # -- the periodic sweep (collector.jobs) ------------------------------------------------

    def sweep(self, now: datetime) -> SweepReport:
        """Mark breached deadlines (escalating per policy) and open agent-silent tickets."""
        breaches = escalations = 0
        with reading(self.engine) as conn:
            due = store.breach_candidates(conn, now)
        for row in due:
            b, e = self._breach(row.id, now)
            breaches += b
            escalations += e
        opened, reopened = self._silent(now)
        return SweepReport(breaches, escalations, opened, reopened)

    def _breach(self, ticket_id: int, now: datetime) -> tuple[int, int]:
        breaches = escalations = 0
        with writing(self.engine) as conn:
            for kind, what in (("response", "acknowledgement"), ("resolve", "resolution"),
                               ("onsite", "the on-site visit's resolution")):
                if not store.mark_breached(conn, ticket_id, kind, now):
                    continue
                row = store.get_ticket(conn, ticket_id, lock=True)
                assert row is not None
                t = dict(row._mapping)
                change = _Change(conn, now)
                breaches += 1
                change.record(t, actor=SYSTEM, action="breach", event="breached",
                              note=f"{kind} deadline {format_time(t[f'{kind}_due'])} passed without {what}")
                policy = self.policies.for_site(t["site"])
                if policy.escalate_on_breach and kind != "onsite" and t["severity"] > 1:
                    before = t["severity"]
                    t.update(severity=before - 1, level_name=policy.level(before - 1).name, updated_at=now)
                    store.update_ticket(conn, ticket_id, {k: t[k] for k in ("severity", "level_name",
                                                                             "updated_at")})
                    escalations += 1
                    change.record(t, actor=SYSTEM, action="escalate", event="escalated",
                                  note=f"level {before} → {before - 1} ({t['level_name']}): "
                                       f"the {kind} deadline passed")
        return breaches, escalations

    def _silent(self, now: datetime) -> tuple[int, int]:
        opened = reopened = 0
        with reading(self.engine) as conn:
            candidates = store.silent_hosts(conn)
        for h in candidates:
            policy = self.policies.for_site(h.site)
            if policy.silent_grace is None:
                continue
            term, grace = policy.silent_grace, policy.silent_grace.time
            if h.last_seen >= now - grace:
                continue
            if h.silent_opened_at is not None and h.silent_opened_at > h.last_seen:
                continue  # this silence has its ticket already (live, resolved or closed)
            if policy.in_maintenance(h.host, now):
                continue
            if policy.maintenance_ended(h.host, now - grace, now):
                continue  # a window ended within the grace: the silence counts from its end
            with writing(self.engine) as conn:
                store.lock_host(conn, h.site, h.host)
                found = [dict(r._mapping) for r in store.host_tickets(conn, h.site, h.host,
                                                                      now - policy.reopen_window)
                         if (r.check, r.item) == (AGENT_CHECK, SILENT_ITEM)]
                if any(t["state"] in LIVE_STATES or t["opened_at"] > h.last_seen for t in found):
                    continue
                change = _Change(conn, now)
                what = (f"enrolled at {format_time(h.last_seen)} and never reported (grace {term})"
                        if h.never_reported else
                        f"no report from the agent since {format_time(h.last_seen)} (grace {term})")
                resolved = [t for t in found if t["state"] == "resolved"]
                if resolved:
                    t = resolved[-1]
                    if change.move(t, ("resolved",), {
                            "state": "open", "resolved_at": None, "reopened_count": t["reopened_count"] + 1,
                            "occurrences": t["occurrences"] + 1, "last_seen_at": now},
                            actor=SYSTEM, action="reopen", event="reopened",
                            note=f"silent again within the reopen window: {what}"):
                        reopened += 1
                        continue
                values = _new_ticket(policy, site=h.site, host=h.host, check=AGENT_CHECK, item=SILENT_ITEM,
                                     severity=policy.silent_level,
                                     summary=f"agent silent on {h.host}: {what}",
                                     via=MONITORING, by=SYSTEM, now=now)
                values["last_seen_at"] = now
                if change.open(values, actor=SYSTEM, note=f"opened from monitoring: {what}") is not None:
                    opened += 1
        return opened, reopened


def _note(text: Any, *, required: bool = False, problems: list[str] | None = None) -> str:
    if text is None or (isinstance(text, str) and not text.strip()):
        if required:
            raise TicketInvalid("text: expected a comment of 1-4000 characters")
        return ""
    if not isinstance(text, str) or len(text) > MAX_NOTE or "\x00" in text:
        message = f"note: expected text of at most {MAX_NOTE} characters"
        if problems is not None:
            problems.append(message)
            return ""
        raise TicketInvalid(message)
    return text.strip()
