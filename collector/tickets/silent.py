"""Ticket rule kind ``agent_silent``: a host whose agent has not reported for longer than the site's
grace opens ``agent``/``silent`` (or reopens it within the reopen window); its next report resolves
it (:meth:`collector.tickets.rules.ResultRules.on_results`).  Copy this module for a new sweep rule:
a function ``sweep(ledger, now, run)`` and its ``KIND``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from collector.messages import grace_words, local_minute, tsay
from collector.store import tickets as store
from collector.store.db import reading, writing
from collector.store.tables import LIVE_STATES
from collector.tickets.kinds import RuleKind, SweepRun
from collector.tickets.model import (
    AGENT_CHECK,
    MONITORING,
    SILENT_ITEM,
    SYSTEM,
    Change,
    LedgerBase,
    Ticket,
    new_ticket,
)

if TYPE_CHECKING:
    from collector.tickets import Tickets


def sweep(ledger: Tickets, now: datetime, run: SweepRun) -> None:
    opened, reopened = _silent(ledger, now, run.hidden)
    run.silent_opened += opened
    run.silent_reopened += reopened


def _silent(ledger: LedgerBase, now: datetime, hidden: set[tuple[str, str]]) -> tuple[int, int]:
    opened = reopened = 0
    with reading(ledger.engine) as conn:
        candidates = store.silent_hosts(conn)
    for h in candidates:
        policy = ledger.policies.for_site(h.site)
        if policy.silent_grace is None:
            continue
        grace = policy.silent_grace.time
        if h.last_seen >= now - grace or (h.site, h.host) in hidden:
            continue
        if h.silent_opened_at is not None and h.silent_opened_at > h.last_seen:
            continue  # this silence has its ticket already (live, resolved or closed)
        if policy.in_maintenance(h.host, now):
            continue
        if policy.maintenance_ended(h.host, now - grace, now):
            continue  # a window ended within the grace: the silence counts from its end
        with writing(ledger.engine) as conn:
            store.lock_host(conn, h.site, h.host)
            found = [Ticket.from_row(r._mapping) for r in store.host_tickets(conn, h.site, h.host,
                                                                             now - policy.reopen_window)
                     if (r.check, r.item) == (AGENT_CHECK, SILENT_ITEM)]
            if any(t.state in LIVE_STATES or t.opened_at > h.last_seen for t in found):
                continue
            change = Change(conn, now, ledger.policies)
            what = tsay("tickets.what.never_reported" if h.never_reported else "tickets.what.silent_since",
                        since=local_minute(h.last_seen, policy.calendar.zone),
                        **grace_words(policy.silent_grace))
            resolved = [t for t in found if t.state == "resolved"]
            if resolved:
                t = resolved[-1]
                if change.move(t, ("resolved",), {
                        "state": "open", "resolved_at": None, "reopened_count": t.reopened_count + 1,
                        "occurrences": t.occurrences + 1, "last_seen_at": now},
                        actor=SYSTEM, action="reopen", event="reopened",
                        note=tsay("tickets.note.silent_again", what=what)):
                    reopened += 1
                    continue
            values = new_ticket(policy, site=h.site, host=h.host, check=AGENT_CHECK, item=SILENT_ITEM,
                                 severity=policy.silent_level,
                                 summary=tsay("tickets.summary.agent_silent", host=h.host, what=what),
                                 via=MONITORING, by=SYSTEM, now=now)
            values["last_seen_at"] = now
            if change.open(values, actor=SYSTEM, note=tsay("tickets.note.opened_silent", what=what)) is not None:
                opened += 1
    return opened, reopened


KIND = RuleKind(
    name="agent_silent", opens=f"`{AGENT_CHECK}`/`{SILENT_ITEM}`",
    settings="`agent_silent.grace` (15m), `agent_silent.level` (2), `reopen_window` (1h), `maintenance`",
    doc="a host whose agent has not delivered for longer than the grace (counted from the end of a "
        "maintenance window; an enrolled host that never reported: from its enrolment) opens a ticket; "
        "its next delivery resolves it; hosts behind a silent relay are left out",
    sweep=sweep, order=30)
