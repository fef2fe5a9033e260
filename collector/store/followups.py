"""The SQL of customer follow-ups (回访): one per resolved ticket, and which tickets still need one.

A ticket **a person handled** (:func:`handled`) is one opened by hand (reported
other than by ``monitoring``), or acknowledged, resolved, commented or sent
on-site by a person (a ``ticket_events`` row whose actor is not ``system``);
a ticket without history counts as handled when it was acknowledged.  This is
the one definition the waiting list and the annual report both use; the site
policy (``followup.tickets``) says whether only such tickets need a follow-up
(``handled``), every resolved one (``all``) or none (``off``).

:func:`insert_followup` inserts with ``ON CONFLICT DO NOTHING`` on the unique
``ticket_id``, so of two engineers recording the same ticket's follow-up at
once exactly one gets an id back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from collector.store.tables import ticket_events, ticket_followups, tickets

__all__ = ["PERSON_ACTIONS", "followup_of", "followups_of", "handled", "insert_followup", "is_handled",
           "period_resolved", "waiting"]

#: History actions that mean a person dealt with the ticket (when their actor is not ``system``).
PERSON_ACTIONS = ("acknowledge", "resolve", "comment", "onsite")
SYSTEM, MONITORING = "system", "monitoring"


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def handled(until: datetime | None = None) -> ColumnElement[bool]:
    """Whether a person had handled the ticket (before ``until``, if given; see the module docstring)."""
    def before(col: Any) -> ColumnElement[bool]:
        # the comparison of an untyped column
        return col < until if until is not None else col.is_not(None)  # type: ignore[no-any-return]  # see above

    by_person = exists(select(ticket_events.c.id).where(
        ticket_events.c.ticket_id == tickets.c.id, ticket_events.c.actor != SYSTEM,
        ticket_events.c.action.in_(PERSON_ACTIONS), before(ticket_events.c.at)))
    no_history = ~exists(select(ticket_events.c.id).where(ticket_events.c.ticket_id == tickets.c.id))
    acked_row = and_(no_history, tickets.c.acknowledged_at.is_not(None), before(tickets.c.acknowledged_at))
    return or_(tickets.c.reported_via != MONITORING, by_person, acked_row)


def is_handled(conn: Connection, ticket_id: int) -> bool:
    """:func:`handled` of one ticket, now."""
    return bool(conn.execute(select(handled()).where(tickets.c.id == ticket_id)).scalar())


def insert_followup(conn: Connection, values: Mapping[str, Any]) -> int | None:
    """Store a ticket's follow-up; None if the ticket has one already."""
    stmt = (_insert(conn, ticket_followups).values(**values)
            .on_conflict_do_nothing(index_elements=["ticket_id"]).returning(ticket_followups.c.id))
    new_id: int | None = conn.execute(stmt).scalar()
    return new_id


def followup_of(conn: Connection, ticket_id: int) -> Any | None:
    return conn.execute(select(ticket_followups).where(ticket_followups.c.ticket_id == ticket_id)).first()


def followups_of(conn: Connection, ticket_ids: Sequence[int]) -> dict[int, Any]:
    """ticket id → its follow-up, for those that have one."""
    out: dict[int, Any] = {}
    ids = sorted(set(ticket_ids))
    for i in range(0, len(ids), 500):
        q = select(ticket_followups).where(ticket_followups.c.ticket_id.in_(ids[i:i + 500]))
        out.update({int(r.ticket_id): r for r in conn.execute(q)})
    return out


def waiting(conn: Connection, *, site: str | None = None, host: str | None = None,
            severities: Sequence[int] = ()) -> list[Any]:
    """Resolved (not closed) tickets without a follow-up, with ``handled`` (bool), oldest resolution first."""
    done = exists(select(ticket_followups.c.id).where(ticket_followups.c.ticket_id == tickets.c.id))
    q = select(tickets, handled().label("handled")).where(
        tickets.c.state == "resolved", tickets.c.resolved_at.is_not(None), ~done)
    if site is not None:
        q = q.where(tickets.c.site == site)
    if host is not None:
        q = q.where(tickets.c.host == host)
    if severities:
        q = q.where(tickets.c.severity.in_(list(severities)))
    return list(conn.execute(q.order_by(tickets.c.resolved_at, tickets.c.id)))


def period_resolved(conn: Connection, site: str, start: datetime, end: datetime) -> list[Any]:
    """Tickets of ``site`` that may have been resolved in [start, end) (their history decides), with
    ``handled`` as of ``end``, oldest first: a superset, like ``records.period_tickets``."""
    q = select(tickets, handled(end).label("handled")).where(
        tickets.c.site == site, tickets.c.opened_at < end,
        or_(tickets.c.updated_at >= start, and_(tickets.c.resolved_at >= start, tickets.c.resolved_at < end)),
    ).order_by(tickets.c.opened_at, tickets.c.id)
    return list(conn.execute(q))
