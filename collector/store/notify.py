"""The notification outbox's aggregates for /metrics (collector/notify/metrics.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select

from collector.store.tables import notify_deliveries as D
from collector.store.tables import notify_events as E

__all__ = ["deliveries_by_state", "unrouted"]


def deliveries_by_state(conn: Connection) -> list[Any]:
    """(channel, state, count, retried attempts) of every delivery."""
    return list(conn.execute(select(D.c.channel, D.c.state, func.count(),
                                    func.sum(D.c.attempts - case((D.c.state == "pending", 0), else_=1)))
                             .group_by(D.c.channel, D.c.state)))


def unrouted(conn: Connection) -> int:
    """Events not yet fanned out to channels."""
    return int(conn.execute(select(func.count()).select_from(E).where(E.c.fanned_out_at.is_(None))).scalar() or 0)
