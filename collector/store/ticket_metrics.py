"""The ticket metrics' queries (collector/ticket_metrics.py): aggregates only, one row per site ×
severity [× histogram bucket], never a row per ticket."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select

from collector.store.tables import LIVE_STATES, ticket_events, tickets

__all__ = ["BREACH_KINDS", "BUCKETS", "history_key", "live", "resolution_times", "response_times", "totals"]

#: Histogram bucket bounds (seconds): 15m, 30m, 1h, 2h, 4h, 8h, 24h, 3d, 7d (+Inf).
BUCKETS: tuple[float, ...] = (900, 1800, 3600, 7200, 14400, 28800, 86400, 3 * 86400, 7 * 86400)
BREACH_KINDS = ("response", "resolve", "onsite")


def seconds_between(conn: Connection, later: Any, earlier: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def bucket_index(d: Any) -> Any:
    """0 for d <= BUCKETS[0], ..., len(BUCKETS) for d > BUCKETS[-1] (only +Inf holds it)."""
    return case(*((d <= le, i) for i, le in enumerate(BUCKETS)), else_=len(BUCKETS))


def totals(conn: Connection) -> list[Any]:
    """Per (site, initial severity): opened, and breaches of each kind ever marked."""
    def flag(kind: str) -> Any:
        return func.sum(case((tickets.c[f"{kind}_breached"].is_(True), 1), else_=0))

    q = select(tickets.c.site, tickets.c.initial_severity, func.count().label("opened"),
               *(flag(k).label(k) for k in BREACH_KINDS)
               ).group_by(tickets.c.site, tickets.c.initial_severity)
    return list(conn.execute(q))


def live(conn: Connection) -> list[Any]:
    """Per (site, current severity) of live tickets: unacknowledged and key-customer counts."""
    q = select(tickets.c.site, tickets.c.severity,
               func.sum(case((tickets.c.state == "open", 1), else_=0)).label("unacked"),
               func.sum(case((tickets.c.priority > 0, 1), else_=0)).label("key"),
               ).where(tickets.c.state.in_(LIVE_STATES)).group_by(tickets.c.site, tickets.c.severity)
    return list(conn.execute(q))


def histogram(conn: Connection, q: Any) -> list[Any]:
    """(site, severity, bucket index, count, sum of seconds) from ``q`` of (site, severity, d)."""
    sub = q.cte("observations").prefix_with("MATERIALIZED")  # d once a row, not once per CASE arm
    idx = bucket_index(sub.c.d).label("b")
    return list(conn.execute(select(sub.c.site, sub.c.severity, idx, func.count(), func.sum(sub.c.d))
                             .group_by(sub.c.site, sub.c.severity, idx)))


def history_key(conn: Connection) -> tuple[int, int]:
    """Changes whenever a ticket event commits (append-only: the count only grows)."""
    n, top = conn.execute(select(func.count(), func.max(ticket_events.c.id))).one()
    return int(n), int(top or 0)


def response_times(conn: Connection) -> list[Any]:
    d = seconds_between(conn, tickets.c.acknowledged_at, tickets.c.opened_at)
    return histogram(conn, select(tickets.c.site, tickets.c.initial_severity.label("severity"), d.label("d"))
                      .where(tickets.c.acknowledged_at.is_not(None)))


def resolution_times(conn: Connection) -> list[Any]:
    d = seconds_between(conn, ticket_events.c.at, tickets.c.opened_at)
    return histogram(conn, select(tickets.c.site, tickets.c.initial_severity.label("severity"), d.label("d"))
                      .select_from(ticket_events.join(tickets, tickets.c.id == ticket_events.c.ticket_id))
                      .where(ticket_events.c.action == "resolve"))
