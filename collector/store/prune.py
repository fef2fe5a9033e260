"""The SQL of the retention prune beyond raw results (collector/retention.py, docs/deploy.md).

Each ``*_batch`` function removes at most ``batch`` rows (or row groups) in the caller's write
transaction and says how many went, so the caller commits one bounded batch at a time: a crash
leaves every batch done or not started, and the next run finds what is left by the same query.
Each ``count_*`` function counts what the batches would remove (``prune --dry-run``).

* ``ticket_events``: the history of a ticket that is no longer live (resolved or closed) and whose
  newest event is older than the cutoff, except its ``resolve`` events (the resolution counter and
  histogram of /metrics only ever grow, and the last one keeps the ticket's final state).  A live
  ticket's history, and every ticket's own row, are never removed.
* ``relay_batches`` / ``relay_results``: which relay carried a result, kept as long as raw results.
* ``maintenance_runs``: the daily claims of the prune itself, kept as long as raw results.
* ``audit_log``: entries below a ``before_seq`` (collector/audit.py writes the signed checkpoint
  first), oldest first, so what is left is always one unbroken run of the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, select

from collector.store.tables import (
    LIVE_STATES,
    audit_log,
    maintenance_runs,
    relay_batches,
    relay_results,
    ticket_events,
    tickets,
)

__all__ = ["audit_batch", "count_audit", "count_relay", "count_runs", "count_ticket_events", "relay_batch",
           "runs_batch", "ticket_events_batch"]


def _done_tickets(cutoff: datetime) -> Any:
    """Tickets not live whose newest event is older than ``cutoff``."""
    newer = exists(select(ticket_events.c.id).where(ticket_events.c.ticket_id == tickets.c.id,
                                                    ticket_events.c.at >= cutoff))
    return select(tickets.c.id).where(tickets.c.state.not_in(LIVE_STATES), tickets.c.updated_at < cutoff, ~newer)


def _prunable_events(cutoff: datetime) -> Any:
    return and_(ticket_events.c.ticket_id.in_(_done_tickets(cutoff)), ticket_events.c.action != "resolve")


def count_ticket_events(conn: Connection, cutoff: datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(ticket_events)
                            .where(_prunable_events(cutoff))).scalar_one())


def ticket_events_batch(conn: Connection, cutoff: datetime, batch: int) -> int:
    ids = list(conn.execute(select(ticket_events.c.id).where(_prunable_events(cutoff))
                            .order_by(ticket_events.c.id).limit(batch)).scalars())
    if ids:
        conn.execute(delete(ticket_events).where(ticket_events.c.id.in_(ids)))
    return len(ids)


def count_relay(conn: Connection, cutoff: datetime) -> int:
    """Provenance rows of relay batches received before ``cutoff``: one per relayed result, one per batch."""
    old = select(relay_batches.c.id).where(relay_batches.c.received_at < cutoff)
    n = conn.execute(select(func.count()).select_from(relay_results)
                     .where(relay_results.c.batch_id.in_(old))).scalar_one()
    return int(n) + int(conn.execute(select(func.count()).select_from(old.subquery())).scalar_one())


def relay_batch(conn: Connection, cutoff: datetime, batch: int) -> int:
    """Remove the provenance of up to ``batch`` relayed results, then the old batches left empty; rows removed."""
    old = select(relay_batches.c.id).where(relay_batches.c.received_at < cutoff)
    uids = list(conn.execute(select(relay_results.c.uid).where(relay_results.c.batch_id.in_(old))
                             .order_by(relay_results.c.uid).limit(batch)).scalars())
    if uids:
        conn.execute(delete(relay_results).where(relay_results.c.uid.in_(uids)))
    held = exists(select(relay_results.c.uid).where(relay_results.c.batch_id == relay_batches.c.id))
    gone = conn.execute(delete(relay_batches).where(relay_batches.c.id.in_(
        select(relay_batches.c.id).where(relay_batches.c.received_at < cutoff, ~held).limit(batch)
        .scalar_subquery()))).rowcount
    return len(uids) + int(gone or 0)


def count_runs(conn: Connection, cutoff: datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(maintenance_runs)
                            .where(maintenance_runs.c.started_at < cutoff)).scalar_one())


def runs_batch(conn: Connection, cutoff: datetime, batch: int) -> int:
    return int(conn.execute(delete(maintenance_runs).where(maintenance_runs.c.started_at < cutoff)).rowcount or 0)


def count_audit(conn: Connection, before_seq: int) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)
                            .where(audit_log.c.seq < before_seq)).scalar_one())


def audit_batch(conn: Connection, before_seq: int, batch: int) -> int:
    """Remove the oldest ``batch`` entries below ``before_seq``: what is left stays one unbroken run."""
    seqs = list(conn.execute(select(audit_log.c.seq).where(audit_log.c.seq < before_seq)
                             .order_by(audit_log.c.seq).limit(batch)).scalars())
    if seqs:
        conn.execute(delete(audit_log).where(audit_log.c.seq.in_(seqs)))
    return len(seqs)
