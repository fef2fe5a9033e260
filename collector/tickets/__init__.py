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

    TicketError (collector.errors.ServiceError)
    ├── TicketNotFound      404
    ├── TransitionRefused   409: the ticket is not in a state that allows it
    └── TicketInvalid       422: a bad field in a manual ticket or a comment
"""

from collector.tickets.actions import Actions
from collector.tickets.model import (
    AGENT_CHECK,
    SILENT_ITEM,
    STATES,
    SweepReport,
    Ticket,
    TicketError,
    TicketInvalid,
    TicketNotFound,
    TransitionRefused,
    ticket_view,
)
from collector.tickets.rules import ResultRules
from collector.tickets.sweep import Sweep

__all__ = [
    "AGENT_CHECK",
    "SILENT_ITEM",
    "STATES",
    "SweepReport",
    "Ticket",
    "TicketError",
    "TicketInvalid",
    "TicketNotFound",
    "Tickets",
    "TransitionRefused",
    "ticket_view",
]


class Tickets(ResultRules, Actions, Sweep):
    """The ticket ledger of one database under one set of site policies.

    The rules that turn results into tickets (:mod:`collector.tickets.rules`), people's actions
    (:mod:`collector.tickets.actions`) and the periodic sweep (:mod:`collector.tickets.sweep`, which runs
    the rule kinds of :mod:`collector.tickets.kinds`);
    people's actions are written to the audit log with ``keys`` (default: the key file of the
    environment, :func:`collector.keys.default_keyring`).
    """
