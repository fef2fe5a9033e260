"""The periodic sweep (collector.jobs): breached deadlines, escalation on breach, agent-silent tickets."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from checks.result import format_time
from collector.messages import grace_words, tsay
from collector.store import tickets as store
from collector.store.db import reading, writing
from collector.store.tables import LIVE_STATES
from collector.tickets.model import (
    AGENT_CHECK,
    MONITORING,
    SILENT_ITEM,
    SYSTEM,
    Change,
    LedgerBase,
    SweepReport,
    Ticket,
    level_names,
    new_ticket,
    write_changes,
)

if TYPE_CHECKING:
    from collector.tickets import Tickets


class Sweep(LedgerBase):
    """The ledger's part the scheduler calls."""

    def sweep(self, now: datetime) -> SweepReport:
        """Mark breached deadlines (escalating per policy) and open agent-silent tickets."""
        breaches = escalations = 0
        with reading(self.engine) as conn:
            due = store.breach_candidates(conn, now)
        for row in due:
            b, e = self._breach(row.id, now)
            breaches += b
            escalations += e
        # a silent site relay: one "relay silent" ticket, and its hosts are not reported one by one
        from collector import relays

        opened, reopened = self._silent(now, relays.sweep_silent(cast("Tickets", self), now))
        return SweepReport(breaches, escalations, opened, reopened)

    def _breach(self, ticket_id: int, now: datetime) -> tuple[int, int]:
        breaches = escalations = 0
        with writing(self.engine) as conn:
            for kind in ("response", "resolve", "onsite"):
                if not store.mark_breached(conn, ticket_id, kind, now):
                    continue
                row = store.get_ticket(conn, ticket_id, lock=True)
                assert row is not None
                t = Ticket.from_row(row._mapping)
                change = Change(conn, now, self.policies)
                breaches += 1
                change.record(t, actor=SYSTEM, action="breach", event="breached",
                              note=tsay(f"tickets.note.breach.{kind}", due=format_time(getattr(t, f"{kind}_due"))))
                policy = self.policies.for_site(t.site)
                if policy.escalate_on_breach and kind != "onsite" and t.severity > 1:
                    before = t.severity
                    t.severity, t.level_name, t.updated_at = before - 1, policy.level(before - 1).name, now
                    write_changes(conn, [t])
                    escalations += 1
                    change.record(t, actor=SYSTEM, action="escalate", event="escalated",
                                  note=tsay(f"tickets.note.escalated_breach.{kind}", before=before,
                                            level=before - 1, **level_names(policy, before - 1)))
        return breaches, escalations

    def _silent(self, now: datetime, hidden: set[tuple[str, str]]) -> tuple[int, int]:
        opened = reopened = 0
        with reading(self.engine) as conn:
            candidates = store.silent_hosts(conn)
        for h in candidates:
            policy = self.policies.for_site(h.site)
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
            with writing(self.engine) as conn:
                store.lock_host(conn, h.site, h.host)
                found = [Ticket.from_row(r._mapping) for r in store.host_tickets(conn, h.site, h.host,
                                                                                 now - policy.reopen_window)
                         if (r.check, r.item) == (AGENT_CHECK, SILENT_ITEM)]
                if any(t.state in LIVE_STATES or t.opened_at > h.last_seen for t in found):
                    continue
                change = Change(conn, now, self.policies)
                what = tsay("tickets.what.never_reported" if h.never_reported else "tickets.what.silent_since",
                            since=format_time(h.last_seen), **grace_words(policy.silent_grace))
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

