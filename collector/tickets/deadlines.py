"""Ticket rule kind ``deadlines``: a missed response, resolution or on-site deadline is marked once
(``breached``), and escalates the ticket one level when the site's policy says so."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from collector.messages import local_minute, tsay
from collector.store import tickets as store
from collector.store.db import reading, writing
from collector.tickets.kinds import RuleKind, SweepRun
from collector.tickets.model import SYSTEM, Change, LedgerBase, Ticket, level_names, write_changes

if TYPE_CHECKING:
    from collector.tickets import Tickets


def sweep(ledger: Tickets, now: datetime, run: SweepRun) -> None:
    with reading(ledger.engine) as conn:
        due = store.breach_candidates(conn, now)
    for row in due:
        b, e = _breach(ledger, row.id, now)
        run.breaches += b
        run.escalations += e


def _breach(ledger: LedgerBase, ticket_id: int, now: datetime) -> tuple[int, int]:
    breaches = escalations = 0
    with writing(ledger.engine) as conn:
        for kind in ("response", "resolve", "onsite"):
            if not store.mark_breached(conn, ticket_id, kind, now):
                continue
            row = store.get_ticket(conn, ticket_id, lock=True)
            assert row is not None
            t = Ticket.from_row(row._mapping)
            change = Change(conn, now, ledger.policies)
            breaches += 1
            policy = ledger.policies.for_site(t.site)
            change.record(t, actor=SYSTEM, action="breach", event="breached", note=tsay(
                f"tickets.note.breach.{kind}", due=local_minute(getattr(t, f"{kind}_due"), policy.calendar.zone)))
            if policy.escalate_on_breach and kind != "onsite" and t.severity > 1:
                before = t.severity
                t.severity, t.level_name, t.updated_at = before - 1, policy.level(before - 1).name, now
                write_changes(conn, [t])
                escalations += 1
                change.record(t, actor=SYSTEM, action="escalate", event="escalated",
                              note=tsay(f"tickets.note.escalated_breach.{kind}", before=before,
                                        level=before - 1, **level_names(policy, before - 1)))
    return breaches, escalations


KIND = RuleKind(
    name="deadlines", opens="none (marks and escalates live tickets)",
    settings="`levels` (response and resolve terms), `onsite.due` (24h), `escalate_on_breach` (true)",
    doc="a live ticket past its response, resolve or on-site deadline is marked breached once "
        "(`breached`); with `escalate_on_breach` a missed response or resolve deadline raises it one level "
        "(not above level 1)",
    sweep=sweep, order=10)
