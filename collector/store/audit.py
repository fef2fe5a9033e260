"""The SQL of the audit log: the chain head, appends, listings and a walk in order.

Appends happen inside the caller's write transaction, last in it:
:func:`lock_head` serialises them across collectors (a transaction-scoped
advisory lock on PostgreSQL; on SQLite the write transaction, ``BEGIN
IMMEDIATE``, already holds the database's one write lock), then
:func:`head` reads the newest entry and :func:`insert_entry` adds the next.
The unique ``seq`` turns any append that slipped past the lock into an error
instead of a fork.  Nothing here updates or deletes an entry; the retention prune removes the
oldest ones (collector/store/prune.py) after a signed checkpoint (collector/audit.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, or_, select, text

from collector.store.tables import audit_log

__all__ = ["AuditFilter", "checkpoint_before", "find_entries", "for_target", "hash_of", "head", "insert_entry",
           "lock_head", "lowest_seq", "newest_before", "newest_key_id", "walk"]

_LOCK_NS, _LOCK_KEY = 0x57524454, 0x41554454  # "WRDT", "AUDT": one lock for the whole chain


def lock_head(conn: Connection) -> None:
    """Serialise appends to the chain until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": _LOCK_NS, "k": _LOCK_KEY})
    elif not conn.get_execution_options().get("wardround_write", False):
        raise RuntimeError("audit entries are appended inside a write transaction (collector.store.db.writing)")


def head(conn: Connection) -> tuple[int, str] | None:
    """(seq, hash) of the newest entry, or None for an empty log."""
    row = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else None


def newest_before(conn: Connection, cutoff: datetime) -> tuple[int, str] | None:
    """(seq, hash) of the newest entry written before ``cutoff``, or None."""
    row = conn.execute(select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.at < cutoff)
                       .order_by(audit_log.c.seq.desc()).limit(1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else None


def lowest_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.min(audit_log.c.seq))).scalar() or 0)


def hash_of(conn: Connection, seq: int) -> str | None:
    value = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq)).scalar()
    return None if value is None else str(value)


def checkpoint_before(conn: Connection, action: str) -> int:
    """The ``before_seq`` of the newest retention checkpoint (``action`` entries), 0 without one."""
    detail = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == action)
                          .order_by(audit_log.c.seq.desc()).limit(1)).scalar()
    return int(orjson.loads(detail)["before_seq"]) if detail else 0


def newest_key_id(conn: Connection) -> str | None:
    """The key id of the newest entry: which key this database has been signed with."""
    row = conn.execute(select(audit_log.c.key_id).order_by(audit_log.c.seq.desc()).limit(1)).first()
    return str(row.key_id) if row is not None and row.key_id else None


def insert_entry(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(audit_log).values(**values))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since: datetime | None = None  # inclusive, on ``at``
    until: datetime | None = None  # exclusive, on ``at``
    actor: str | None = None
    action: str | None = None  # ``ticket.ack`` exactly, or ``ticket``: every ``ticket.*``
    before_seq: int | None = None  # the next page: entries older than this one
    limit: int = 100


def find_entries(conn: Connection, f: AuditFilter) -> list[Any]:
    """Entries matching ``f``, newest first."""
    q = select(audit_log)
    if f.since is not None:
        q = q.where(audit_log.c.at >= f.since)
    if f.until is not None:
        q = q.where(audit_log.c.at < f.until)
    if f.actor is not None:
        q = q.where(audit_log.c.actor == f.actor)
    if f.action is not None:
        q = q.where(or_(audit_log.c.action == f.action, audit_log.c.action.startswith(f.action + ".",
                                                                                      autoescape=True)))
    if f.before_seq is not None:
        q = q.where(audit_log.c.seq < f.before_seq)
    return list(conn.execute(q.order_by(audit_log.c.seq.desc()).limit(f.limit)))


def for_target(conn: Connection, target: str) -> list[Any]:
    """Every entry about ``target`` (``record:12``), oldest first."""
    return list(conn.execute(select(audit_log).where(audit_log.c.target == target).order_by(audit_log.c.seq)))


def walk(conn: Connection, batch: int = 5000) -> Iterator[Any]:
    """Every entry in ``seq`` order, read in batches."""
    last = -1
    while True:
        rows = list(conn.execute(select(audit_log).where(audit_log.c.seq > last)
                                 .order_by(audit_log.c.seq).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        last = int(rows[-1].seq)
