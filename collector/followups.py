"""The customer follow-up (回访) of a resolved ticket: what it holds, who needs one, when it is due.

After a ticket is resolved, an engineer calls the customer back and records
the call: ``satisfaction`` 1 (very dissatisfied) to 5 (very satisfied), the
``contact`` spoken to, and a ``note``.  One follow-up per ticket, for a
ticket that is ``resolved`` or ``closed``; it is stored
(``ticket_followups``), added to the ticket's history (action ``followup``)
and written to the audit log (``ticket.followup``) in one transaction by
:meth:`collector.tickets.Tickets.follow_up`.

Which tickets need one (the site policy's ``followup.tickets``): ``handled``
(default) — those a person dealt with (:func:`collector.store.followups.handled`:
opened by hand, or acknowledged, resolved, commented or sent on-site by a
person), ``all`` — every resolved ticket, ``off`` — none.  It is **due**
``followup.within`` after the resolution on the site's business calendar
(default ``3wd``: the end of business on the third working day after), and
**waiting** while the ticket is ``resolved`` without one; closing a ticket
without a follow-up takes it off the waiting list, and the annual report
counts it as not followed up.

A satisfaction of :data:`collector.policy.COMPLAINT_SCORE` (2) or less
reopens nothing: it opens a **service complaint**, a new ticket
(check ``complaint``, item ``ticket-<id>``, reported via ``followup``) at the
site's ``followup.complaint_level`` for the account manager the policy names
(``assignee``), and sends the notification event ``complaint`` instead of
``opened`` (route it to the account manager's channel).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from checks.result import format_time
from collector.messages import tsay
from collector.policy import COMPLAINT_SCORE, SitePolicy
from collector.records.i18n import text

__all__ = ["COMPLAINT_CHECK", "FOLLOWUP_STATES", "FOLLOWUP_VIA", "LIST_FILTERS", "MAX_CONTACT", "check_followup",
           "complaint_summary", "due_view", "followup_view", "is_complaint", "needs_followup"]

COMPLAINT_CHECK = "complaint"
FOLLOWUP_VIA = "followup"
MAX_CONTACT = 100
MAX_NOTE = 4000
FOLLOWUP_STATES = ("resolved", "closed")
LIST_FILTERS = ("waiting", "overdue")  # ?followup= of the ticket list (API and page)


def check_followup(satisfaction: Any, contact: Any, note: Any) -> tuple[int, str, str, list[str]]:
    """The follow-up's fields cleaned, and every problem with them (empty when they are good)."""
    problems = []
    if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        problems.append(tsay("tickets.invalid.satisfaction", got=repr(str(satisfaction)[:20])))
        satisfaction = 0
    if not isinstance(contact, str) or not contact.strip() or len(contact.strip()) > MAX_CONTACT \
            or "\x00" in contact:
        problems.append(tsay("tickets.invalid.contact", max=MAX_CONTACT))
        contact = ""
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > MAX_NOTE or "\x00" in note:
        problems.append(tsay("tickets.invalid.note", max=MAX_NOTE))
        note = ""
    return satisfaction, contact.strip(), note.strip(), problems


def needs_followup(policy: SitePolicy, handled: bool) -> bool:
    """Whether a resolved ticket of ``policy``'s site needs a follow-up (``handled``: a person dealt with it)."""
    mode = policy.followup.tickets
    return mode == "all" or (mode == "handled" and handled)


def complaint_summary(lang: str, *, ticket_id: int, satisfaction: int, note: str) -> str:
    """The complaint ticket's summary, in the site's language (the records' catalogs)."""
    head = text(lang, "complaint.summary", ticket=ticket_id, satisfaction=satisfaction)
    return f"{head}{text(lang, 'complaint.note', note=note)}" if note else head


def followup_view(row: Any) -> dict[str, Any]:
    """A stored follow-up as the API shows it."""
    return {"at": format_time(row.at), "by": row.actor, "satisfaction": int(row.satisfaction),
            "contact": row.contact, "note": row.note,
            "complaint_ticket": int(row.complaint_ticket_id) if row.complaint_ticket_id is not None else None}


def due_view(policy: SitePolicy, resolved_at: datetime, now: datetime) -> dict[str, Any]:
    """``followup_due`` and ``followup_overdue`` of a ticket waiting for its follow-up."""
    due = policy.followup_deadline(resolved_at)
    return {"followup_due": format_time(due), "followup_overdue": now > due}


def is_complaint(satisfaction: int) -> bool:
    return satisfaction <= COMPLAINT_SCORE
