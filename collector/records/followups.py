"""The annual report's customer follow-ups (回访): coverage and satisfaction per level.

Counted: the tickets **resolved in the period** (and still resolved or closed
at its end) that needed a follow-up under the site's policy
(:func:`collector.followups.needs_followup`; ``handled`` as of the period's
end), each at its level at the period's end (:mod:`collector.ticket_history`),
and their follow-ups recorded **before the period's end** — so a report
issued later says the same.  Per level: needed, followed up, on time (by
``followup.within`` after the resolution), not followed up (due before the
period's end and none recorded), not yet due at the period's end, the
coverage (followed up ÷ (needed − not yet due)), the average satisfaction
(1–5) and the complaints (satisfaction 2 or less).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from collector.followups import FOLLOWUP_STATES, is_complaint, needs_followup
from collector.policy import SitePolicy
from collector.records.i18n import text
from collector.records.model import Section
from collector.store import followups as followup_store
from collector.store import tickets as ticket_store
from collector.terms import say_term
from collector.ticket_history import as_of

__all__ = ["annual_followups"]

Cells = list[list[str | int | float | None]]


@dataclass(slots=True)
class _Counts:
    name: str = ""
    needed: int = 0
    followed: int = 0
    on_time: int = 0
    missed: int = 0
    pending: int = 0
    scores: list[int] = field(default_factory=list)

    def add(self, other: _Counts) -> None:
        for name in ("needed", "followed", "on_time", "missed", "pending"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.scores += other.scores

    def cells(self, label: str) -> list[str | int | float | None]:
        decided = self.needed - self.pending
        coverage = f"{100.0 * self.followed / decided:.1f} %" if decided > 0 else "—"
        average = f"{sum(self.scores) / len(self.scores):.2f}" if self.scores else "—"
        return [label, self.needed, self.followed, self.on_time, self.missed, self.pending, coverage, average,
                sum(1 for s in self.scores if is_complaint(s))]


def annual_followups(conn: Connection, site: str, start: datetime, end: datetime, lang: str,
                     policy: SitePolicy) -> tuple[Section, int]:
    """The ``followups`` section, and how many tickets were not followed up in time."""
    columns = [text(lang, f"annual.followups.column.{c}") for c in
               ("level", "needed", "followed", "on_time", "missed", "pending", "coverage", "satisfaction",
                "complaints")]
    mode = policy.followup.tickets
    if mode == "off":
        return Section(key="followups", title=text(lang, "annual.heading.followups"), columns=columns, rows=[],
                       note=text(lang, "annual.followups.off")), 0
    candidates = followup_store.period_resolved(conn, site, start, end)
    ids = [int(t.id) for t in candidates]
    histories = ticket_store.histories(conn, ids, end)
    done = followup_store.followups_of(conn, ids)
    by_level: dict[int, _Counts] = defaultdict(_Counts)
    for t in candidates:
        state = as_of(t, histories.get(int(t.id), []), end)
        if state is None or state.state not in FOLLOWUP_STATES or state.resolved_at is None \
                or not start <= state.resolved_at < end or not needs_followup(policy, bool(t.handled)):
            continue
        c = by_level[state.severity]
        c.name = c.name or state.level_name
        c.needed += 1
        fu = done.get(int(t.id))
        due = policy.followup_deadline(state.resolved_at)
        if fu is not None and fu.at < end:
            c.followed += 1
            c.on_time += fu.at <= due
            c.scores.append(int(fu.satisfaction))
        elif due < end:
            c.missed += 1
        else:
            c.pending += 1
    rows: Cells = [by_level[n].cells(f"{n} · {by_level[n].name}") for n in sorted(by_level)]
    total = _Counts()
    for c in by_level.values():
        total.add(c)
    if rows:
        rows.append(total.cells(text(lang, "annual.total")))
    note = text(lang, "annual.note.followups", tickets=text(lang, f"annual.followups.tickets.{mode}"),
                within=say_term(policy.followup.within.text, lang, business=not policy.followup.always)) \
        if rows else text(lang, "annual.none")
    return (Section(key="followups", title=text(lang, "annual.heading.followups"), columns=columns, rows=rows,
                    note=note), total.missed)
