"""The notification outbox: events (collector/notify/__init__.py), the dispatcher's claims and outcomes
(collector/notify/dispatch.py), receivers' pacing rows, and the aggregates for /metrics
(collector/notify/metrics.py).

Claiming is the concurrency-sensitive part: ``due_deliveries`` reads the candidates (on PostgreSQL with
``SKIP LOCKED`` when asked), ``claim`` takes them only if they are still due (the caller treats fewer rows
than asked as a lost race), and ``robot(lock=True)`` creates and locks a receiver's row so that claims on a
paced receiver queue behind each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.store.tables import notify_deliveries as D
from collector.store.tables import notify_events as E
from collector.store.tables import notify_robots as R

__all__ = ["add_delivery", "add_event", "block_robot", "claim", "deliveries_by_state", "due_count",
           "due_deliveries", "event", "finish", "mark_fanned_out", "robot", "set_recent", "unrouted",
           "unrouted_ids"]

_EARLIER = D.alias("earlier")
_EARLIER_EVENT = E.alias("earlier_event")
# a claimed delivery with its event: what a sender needs
_COLUMNS = (D.c.id, D.c.channel, D.c.language, D.c.attempts, D.c.created_at, D.c.ticket_id,
            E.c.uid, E.c.event, E.c.ticket, E.c.at)


def add_event(conn: Connection, values: dict[str, Any]) -> None:
    """One row of ``notify_events`` (the outbox), in ``conn``'s transaction."""
    conn.execute(insert(E).values(**values))


def unrouted_ids(conn: Connection, limit: int) -> list[int]:
    """The first ``limit`` events not yet fanned out, oldest first."""
    return list(conn.execute(select(E.c.id).where(E.c.fanned_out_at.is_(None))
                             .order_by(E.c.id).limit(limit)).scalars().all())


def mark_fanned_out(conn: Connection, event_id: int, at: datetime) -> bool:
    """Take event ``event_id`` for fanning out; False if another collector took it first."""
    won = conn.execute(update(E).where(E.c.id == event_id, E.c.fanned_out_at.is_(None))
                       .values(fanned_out_at=at)).rowcount
    return bool(won == 1)


def event(conn: Connection, event_id: int) -> Any:
    """(event, site, severity, at, ticket_id) of one event."""
    return conn.execute(select(E.c.event, E.c.site, E.c.severity, E.c.at, E.c.ticket_id)
                        .where(E.c.id == event_id)).one()


def add_delivery(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(D).values(**values))


def _insert_ignore(conn: Connection, key: str) -> Any:
    ins = (postgresql.insert(R) if conn.dialect.name == "postgresql" else sqlite.insert(R)).values(
        key=key, blocked_until=None, recent="[]", updated_at=datetime.now(UTC))
    return ins.on_conflict_do_nothing(index_elements=["key"])


def robot(conn: Connection, key: str, *, lock: bool) -> Any | None:
    """The receiver's row; ``lock``: created if missing and locked, so claims on it queue."""
    if lock:
        conn.execute(_insert_ignore(conn, key))
    q = select(R).where(R.c.key == key)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).first()


def set_recent(conn: Connection, key: str, recent: list[float], now: datetime) -> None:
    """The receiver's recent send times (epoch seconds)."""
    conn.execute(update(R).where(R.c.key == key).values(recent=json.dumps(recent), updated_at=now))


def block_robot(conn: Connection, key: str, until: datetime) -> None:
    """The receiver takes nothing before ``until`` (a later block already there stays)."""
    conn.execute(_insert_ignore(conn, key))
    conn.execute(update(R).where(R.c.key == key, or_(R.c.blocked_until.is_(None), R.c.blocked_until < until))
                 .values(blocked_until=until, updated_at=until))


def _due(channel: str, now: datetime) -> Any:
    return and_(D.c.channel == channel, D.c.state == "pending", D.c.next_at <= now,
                or_(D.c.claimed_until.is_(None), D.c.claimed_until < now))


def _in_order(now: datetime, *, digest: bool) -> Any:
    """No earlier event of the ticket waits on this channel (a digest may carry earlier free ones)."""
    earlier = [_EARLIER.c.channel == D.c.channel, _EARLIER.c.ticket_id == D.c.ticket_id,
               _EARLIER.c.state == "pending", _EARLIER.c.event_id < D.c.event_id]
    if digest:  # an earlier one that is due and free is in the same digest, before it
        earlier.append(or_(_EARLIER.c.next_at > now, _EARLIER.c.claimed_until >= now))
    unrouted = exists().where(_EARLIER_EVENT.c.ticket_id == D.c.ticket_id, _EARLIER_EVENT.c.id < D.c.event_id,
                              _EARLIER_EVENT.c.fanned_out_at.is_(None))
    return and_(~exists().where(*earlier), ~unrouted)


def due_count(conn: Connection, channel: str, now: datetime, *, limit: int) -> int:
    """Deliveries of ``channel`` due now that a digest could carry, counted up to ``limit``."""
    return int(conn.execute(select(func.count()).select_from(
        select(D.c.id).where(_due(channel, now), _in_order(now, digest=True)).limit(limit).subquery())).scalar_one())


def due_deliveries(conn: Connection, channel: str, now: datetime, *, digest: bool, limit: int,
                   skip_locked: bool = False) -> list[Any]:
    """Deliveries of ``channel`` due now, each with its event (``_COLUMNS``): a digest's in event order,
    else the next one due; ``skip_locked`` (PostgreSQL): rows another claimer holds are passed over."""
    q = select(*_COLUMNS).join(E, E.c.id == D.c.event_id).where(_due(channel, now), _in_order(now, digest=digest))
    if digest:
        q = q.order_by(D.c.event_id).limit(limit)
    else:
        q = q.order_by(D.c.next_at, D.c.event_id).limit(limit)
        if skip_locked and conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True, of=D)
    return list(conn.execute(q))


def claim(conn: Connection, ids: Sequence[int], channel: str, now: datetime, *, worker: str,
          until: datetime) -> int:
    """Claim the deliveries ``ids`` that are still due for ``worker`` until ``until``; how many it took."""
    return int(conn.execute(update(D).where(D.c.id.in_(ids), _due(channel, now))
                            .values(claimed_by=worker, claimed_until=until)).rowcount)


def finish(conn: Connection, ids: Sequence[int], worker: str, values: dict[str, Any]) -> int:
    """Write a send's outcome on the deliveries ``worker`` still holds (one more attempt); how many."""
    return int(conn.execute(update(D).where(D.c.id.in_(ids), D.c.claimed_by == worker)
                            .values(claimed_by=None, claimed_until=None, attempts=D.c.attempts + 1,
                                    **values)).rowcount)


def deliveries_by_state(conn: Connection) -> list[Any]:
    """(channel, state, count, retried attempts) of every delivery."""
    return list(conn.execute(select(D.c.channel, D.c.state, func.count(),
                                    func.sum(D.c.attempts - case((D.c.state == "pending", 0), else_=1)))
                             .group_by(D.c.channel, D.c.state)))


def unrouted(conn: Connection) -> int:
    """Events not yet fanned out to channels."""
    return int(conn.execute(select(func.count()).select_from(E).where(E.c.fanned_out_at.is_(None))).scalar() or 0)
