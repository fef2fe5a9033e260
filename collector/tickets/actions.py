"""People's actions on tickets: read, open by hand, acknowledge, resolve, close, on-site, comment, follow-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from checks.messages import Said
from checks.result import format_time, is_name
from collector import audit, followups
from collector.messages import ticket_summary, tsay
from collector.policy import SitePolicy, level_name
from collector.store import followups as followup_store
from collector.store import tickets as store
from collector.store.db import reading, writing
from collector.store.tables import LIVE_STATES
from collector.tickets.model import (
    AUDIT_ACTIONS,
    MANUAL_CHECK,
    MAX_SUMMARY,
    VIA_RE,
    Change,
    LedgerBase,
    Ticket,
    TicketInvalid,
    TicketNotFound,
    TransitionRefused,
    clean_note,
    event_view,
    level_names,
    new_ticket,
    stored_term,
    ticket_view,
)


class Actions(LedgerBase):
    """The ledger's part the API and the pages call."""

    def read_view(self, row: Any, lang: str | None = None) -> dict[str, Any]:
        """A stored ticket as the API shows it; for a reader of ``lang`` (a page), its summary and level
        name in that language (the API's are as stored)."""
        out = ticket_view(row._mapping)
        if lang is not None:
            out["summary"] = ticket_summary(row.summary, row.check, row.item, row.messages, lang)
            out["level_name"] = level_name(row.level_name, row.severity, lang,
                                           self.policies.for_site(row.site).levels)
        return out

    def list(self, f: store.TicketFilter, lang: str | None = None) -> list[dict[str, Any]]:
        """The tickets ``f`` asks for; ``lang``: read by a person of that language (:meth:`read_view`)."""
        with reading(self.engine) as conn:
            return [self.read_view(r, lang) for r in store.find_tickets(conn, f)]

    def get(self, ticket_id: int, lang: str | None = None) -> dict[str, Any]:
        """One ticket with its history, its follow-up (or null) and, while one is waited for, when it is due;
        ``lang``: its summary, level name and the collector's own history notes in that language."""
        now = self.clock()
        with reading(self.engine) as conn:
            row = store.get_ticket(conn, ticket_id)
            if row is None:
                raise TicketNotFound(tsay("tickets.error.not_found", id=ticket_id))
            out = self.read_view(row, lang)
            out["history"] = [event_view(e, lang) for e in store.history(conn, ticket_id)]
            done = followup_store.followup_of(conn, ticket_id)
            out["followup"] = followups.followup_view(done) if done is not None else None
            out["followup_due"] = out["followup_overdue"] = None
            if done is None and row.state == "resolved" and row.resolved_at is not None:
                policy = self.policies.for_site(row.site)
                if followups.needs_followup(policy, followup_store.is_handled(conn, ticket_id)):
                    out.update(followups.due_view(policy, row.resolved_at, now))
        return out

    def waiting_followups(self, f: store.TicketFilter, *, overdue_only: bool = False,
                          lang: str | None = None) -> Sequence[dict[str, Any]]:
        """Resolved tickets still waiting for their customer follow-up, the soonest due first."""
        now = self.clock()
        with reading(self.engine) as conn:
            rows = followup_store.waiting(conn, site=f.site, host=f.host, severities=f.severities)
        views = [{**self.read_view(r, lang), **followups.due_view(policy, r.resolved_at, now)}
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
            raise TicketInvalid(tsay("tickets.invalid", problems=problems))
        now = self.clock()
        with reading(self.engine) as conn:
            found = store.get_ticket(conn, ticket_id)
        if found is None:
            raise TicketNotFound(tsay("tickets.error.not_found", id=ticket_id))
        complaint: Ticket | None = None
        with writing(self.engine) as conn:
            store.lock_host(conn, found.site, found.host)
            row = store.get_ticket(conn, ticket_id, lock=True)
            assert row is not None  # tickets are never deleted
            t = Ticket.from_row(row._mapping)
            if t.state not in followups.FOLLOWUP_STATES:
                raise TransitionRefused(tsay("tickets.error.state", id=ticket_id, state=f"tickets.state.{t.state}",
                                             why="tickets.refuse.followup"))
            done = followup_store.followup_of(conn, ticket_id)
            if done is not None:
                raise TransitionRefused(tsay("tickets.error.followed_up", id=ticket_id, at=format_time(done.at),
                                             actor=done.actor))
            policy = self.policies.for_site(t.site)
            change = Change(conn, now, self.policies)
            said = (tsay("tickets.followup.said_note", score=score, contact=contact, note=note) if note
                    else tsay("tickets.followup.said", score=score, contact=contact))
            if followups.is_complaint(score):
                complaint = self._complain(change, policy, t, actor=actor, score=score, note=note, said=said)
            if followup_store.insert_followup(conn, {
                    "ticket_id": ticket_id, "site": t.site, "at": now, "actor": actor, "satisfaction": score,
                    "contact": contact, "note": note,
                    "complaint_ticket_id": complaint.id if complaint is not None else None}) is None:
                raise TransitionRefused(tsay("tickets.error.followed_up_meanwhile", id=ticket_id))
            change.record(t, actor=actor, action="followup",
                          note=tsay("tickets.note.followup_complaint", said=said, id=complaint.id)
                          if complaint is not None else tsay("tickets.note.followup", said=said))
            audit.append(conn, self.keys, actor=actor, action=AUDIT_ACTIONS["followup"],
                         target=f"ticket:{ticket_id}",
                         detail={"satisfaction": score, "contact": contact, "note": note,
                                 "complaint": complaint.id if complaint is not None else None}, at=now)
        out = self.get(ticket_id)
        out["complaint"] = ticket_view(complaint.row()) if complaint is not None else None
        return out

    def _complain(self, change: Change, policy: SitePolicy, t: Ticket, *, actor: str, score: int,
                  note: str, said: str) -> Ticket:
        """Open the service complaint of ticket ``t``'s low follow-up score, for the account manager."""
        level = policy.complaint_level
        summary = followups.complaint_summary(policy.records.language, ticket_id=t.id, satisfaction=score,
                                              note=note)
        values = new_ticket(policy, site=t.site, host=t.host, check=followups.COMPLAINT_CHECK,
                             item=f"ticket-{t.id}", severity=level, summary=summary,
                             via=followups.FOLLOWUP_VIA, by=actor, now=change.now)
        manager = policy.followup.account_manager
        values["assignee"] = manager
        names = level_names(policy, level)
        opened = change.open(values, actor=actor, event="complaint",
                             note=tsay("tickets.note.complaint", id=t.id, said=said, manager=manager, level=level,
                                       **names) if manager else
                             tsay("tickets.note.complaint_nobody", id=t.id, said=said, level=level, **names))
        if opened is None:
            raise TransitionRefused(tsay("tickets.error.complaint_open", id=t.id))
        return opened

    def open_manual(self, *, actor: str, site: str, host: str, severity: int, summary: str,
                    reported_via: str, check: str | None = None, item: str | None = None,
                    note: str | None = None) -> tuple[dict[str, Any], bool]:
        """Open a ticket by hand; (ticket, True) if opened, (ticket, False) if one was live for the key."""
        problems = []
        for name, value in (("site", site), ("host", host), ("check", check or MANUAL_CHECK)):
            if not is_name(value):
                problems.append(tsay("tickets.invalid.name", field=f"tickets.field.{name}", got=repr(value)))
        policy = self.policies.for_site(site) if isinstance(site, str) else self.policies.default
        n = len(policy.levels)
        if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= n:
            problems.append(tsay("tickets.invalid.severity", n=n))
        if not isinstance(summary, Said):  # the collector's own summary (tsay) keeps its key
            summary = summary.strip() if isinstance(summary, str) else ""
        if not summary or len(summary) > MAX_SUMMARY or "\x00" in summary:
            problems.append(tsay("tickets.invalid.summary", max=MAX_SUMMARY))
        if not isinstance(reported_via, str) or not VIA_RE.fullmatch(reported_via):
            problems.append(tsay("tickets.invalid.via", got=repr(reported_via)))
        if item is not None and (not isinstance(item, str) or not item.strip() or len(item) > 255
                                 or "\x00" in item):
            problems.append(tsay("tickets.invalid.item"))
        note = clean_note(note, required=False, problems=problems)
        if problems:
            raise TicketInvalid(tsay("tickets.invalid", problems=problems))
        check = check or MANUAL_CHECK
        item = item.strip() if item else f"{reported_via}-{uuid.uuid4().hex[:8]}"
        with writing(self.engine) as conn:
            store.lock_host(conn, site, host)
            now = self._now(conn)
            change = Change(conn, now, self.policies)
            who = {"via": reported_via, "actor": actor, **({"note": note} if note else {})}
            existing = store.live_ticket(conn, site, host, check, item)
            if existing is not None:
                t = Ticket.from_row(existing._mapping)
                t.occurrences += 1
                t.updated_at = now
                self._flush(conn, t)
                change.record(t, actor=actor, action="comment",
                              note=tsay("tickets.note.reported_again_note" if note else "tickets.note.reported_again",
                                        **who))
                audit.append(conn, self.keys, actor=actor, action="ticket.open", target=f"ticket:{t.id}",
                             detail={"created": False, "site": site, "host": host, "reported_via": reported_via,
                                     "note": note}, at=now)
                return ticket_view(t.row()), False
            values = new_ticket(policy, site=site, host=host, check=check, item=item, severity=severity,
                                 summary=summary, via=reported_via, by=actor, now=now)
            opened = change.open(values, actor=actor, note=tsay(
                "tickets.note.opened_manual_note" if note else "tickets.note.opened_manual", level=severity,
                **level_names(policy, severity), **who))
            assert opened is not None  # the host lock and the lookup above leave no live ticket for the key
            audit.append(conn, self.keys, actor=actor, action="ticket.open", target=f"ticket:{opened.id}",
                         detail={"created": True, "site": site, "host": host, "severity": severity,
                                 "summary": values["summary"], "reported_via": reported_via, "note": note},
                         at=now)
            return ticket_view(opened.row()), True

    def _locked(self, conn: Connection, ticket_id: int) -> tuple[Ticket, datetime]:
        """Ticket ``ticket_id``, locked for this transaction, and the database's now; TicketNotFound if none."""
        row = store.get_ticket(conn, ticket_id, lock=True)
        if row is None:
            raise TicketNotFound(tsay("tickets.error.not_found", id=ticket_id))
        return Ticket.from_row(row._mapping), self._now(conn)

    def _act(self, ticket_id: int, actor: str, *, allowed: Sequence[str], action: str, event: str | None,
             values: Callable[[Ticket, datetime], dict[str, Any]], note: str, refuse: str
             ) -> dict[str, Any]:
        with writing(self.engine) as conn:
            t, now = self._locked(conn, ticket_id)
            if t.state not in allowed:
                raise TransitionRefused(tsay("tickets.error.state", id=ticket_id, state=f"tickets.state.{t.state}",
                                             why=refuse))
            change = Change(conn, now, self.policies)
            before = t.state
            if not change.move(t, allowed, values(t, now), actor=actor, action=action, note=note,
                               event=event):
                raise TransitionRefused(tsay("tickets.error.meanwhile", id=ticket_id, why=refuse))
            audit.append(conn, self.keys, actor=actor, action=AUDIT_ACTIONS[action], target=f"ticket:{ticket_id}",
                         detail={"from": before, "to": t.state, "note": note}, at=now)
            return ticket_view(t.row())

    def acknowledge(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        return self._act(ticket_id, actor, allowed=("open",), action="acknowledge", event="acknowledged",
                         values=lambda t, now: {"state": "acknowledged",
                                                "acknowledged_at": t.acknowledged_at or now},
                         note=clean_note(note) or tsay("tickets.note.acknowledged"),
                         refuse="tickets.refuse.acknowledge")

    def resolve(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        return self._act(ticket_id, actor, allowed=LIVE_STATES, action="resolve", event="resolved",
                         values=lambda t, now: {"state": "resolved", "resolved_at": now},
                         note=clean_note(note) or tsay("tickets.note.resolved"),
                         refuse="tickets.refuse.resolve")

    def close(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        return self._act(ticket_id, actor, allowed=("resolved",), action="close", event="closed",
                         values=lambda t, now: {"state": "closed", "closed_at": now},
                         note=clean_note(note) or tsay("tickets.note.closed"),
                         refuse="tickets.refuse.close")

    def request_onsite(self, ticket_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        """Mark an unsolved remote case "on-site visit needed"; its own deadline starts now."""
        site_policy: dict[str, SitePolicy] = {}

        def values(t: Ticket, now: datetime) -> dict[str, Any]:
            if t.onsite_requested_at is not None:
                raise TransitionRefused(tsay("tickets.error.onsite_already", id=ticket_id,
                                             at=format_time(t.onsite_requested_at)))
            policy = site_policy.setdefault(t.site, self.policies.for_site(t.site))
            terms = {**(t.terms or {}), "onsite": stored_term(policy, policy.onsite_due, policy.onsite_always)}
            return {"onsite_requested_at": now, "onsite_due": policy.onsite_deadline(now),
                    "onsite_breached": False, "terms": terms}

        return self._act(ticket_id, actor, allowed=LIVE_STATES, action="onsite", event=None, values=values,
                         note=clean_note(note) or tsay("tickets.note.onsite"),
                         refuse="tickets.refuse.onsite")

    def comment(self, ticket_id: int, actor: str, text: str | None) -> dict[str, Any]:
        body = clean_note(text, required=True)
        with writing(self.engine) as conn:
            t, now = self._locked(conn, ticket_id)
            Change(conn, now, self.policies).record(t, actor=actor, action="comment", note=body)
            audit.append(conn, self.keys, actor=actor, action="ticket.comment", target=f"ticket:{ticket_id}",
                         detail={"note": body}, at=now)
            return ticket_view(t.row())
