"""What ``/metrics`` reads from the database at each scrape (collector/metrics/state.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from collector.store.tables import (
    LIVE_STATES,
    fleet_hosts,
    hosts,
    latest,
    record_signatures,
    records,
    tickets,
)

__all__ = ["fleet_inventory", "host_marks", "item_rows", "live_tickets", "newest_records"]


def host_marks(conn: Connection) -> Sequence[Any]:
    """Every host that reported: (site, host, last_seen, clock_offset_s, spool_backlog)."""
    return conn.execute(select(hosts.c.site, hosts.c.host, hosts.c.last_seen,
                               hosts.c.clock_offset_s, hosts.c.spool_backlog)).all()


_ITEM_COLUMNS = (latest.c.site, latest.c.host, latest.c.check, latest.c.item, latest.c.status, latest.c.metrics)
_ITEM_ORDER = (latest.c.site, latest.c.host, latest.c.check, latest.c.item)  # one order: the same text
_IN_CHUNK = 400  # hosts per ``site = ? AND host IN (...)`` query


def item_rows(conn: Connection, of: Sequence[tuple[str, str]] | None = None) -> Iterator[tuple[Any, ...]]:
    """The ``latest`` rows (site, host, check, item, status, metrics) of every host, or of the hosts
    ``of`` (site, host), in (site, host, check, item) order."""
    if of is None:
        yield from conn.execute(select(*_ITEM_COLUMNS).order_by(*_ITEM_ORDER))
        return
    # One site per query, so the primary key (site, host, ...) is searched, not scanned: SQLite scans the
    # whole table for a ``(site, host) IN (...)`` of row values.
    hosts_of: dict[str, list[str]] = {}
    for site, host in sorted(of):
        hosts_of.setdefault(site, []).append(host)
    for site, names in hosts_of.items():
        for i in range(0, len(names), _IN_CHUNK):
            yield from conn.execute(select(*_ITEM_COLUMNS).where(
                latest.c.site == site, latest.c.host.in_(names[i:i + _IN_CHUNK])).order_by(*_ITEM_ORDER))


def fleet_inventory(conn: Connection) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """The fleet inventory: the enrolled hosts (site, host) that are not retired, and the retired ones."""
    enrolled: list[tuple[str, str]] = []
    retired: set[tuple[str, str]] = set()
    q = select(fleet_hosts.c.site, fleet_hosts.c.host, fleet_hosts.c.retired_at)
    for site, host, retired_at in conn.execute(q):
        if retired_at is None:
            enrolled.append((site, host))
        else:
            retired.add((site, host))
    return enrolled, retired


def live_tickets(conn: Connection) -> Sequence[Any]:
    """The tickets not resolved or closed, with their deadlines."""
    return conn.execute(select(
        tickets.c.site, tickets.c.host, tickets.c.check, tickets.c.item, tickets.c.severity,
        tickets.c.priority, tickets.c.state, tickets.c.response_due, tickets.c.resolve_due,
        tickets.c.onsite_due).where(tickets.c.state.in_(LIVE_STATES))).all()


Newest = dict[tuple[str, str], tuple[Any, datetime]]  # (site, kind) → (record id, issued at)


def newest_records(conn: Connection) -> tuple[Newest, dict[tuple[Any, str], int]]:
    """Per site and kind, the newest record (the latest period; of several, the last issued): its id
    and issue time; and the signatures of those records by (id, role)."""
    latest_period = (select(records.c.site, records.c.kind, func.max(records.c.period_end).label("end"))
                     .group_by(records.c.site, records.c.kind).subquery())
    newest: Newest = {}
    for record_id, site, kind, issued_at in conn.execute(
            select(records.c.id, records.c.site, records.c.kind, records.c.issued_at).join(
                latest_period, and_(records.c.site == latest_period.c.site, records.c.kind == latest_period.c.kind,
                                    records.c.period_end == latest_period.c.end))):
        held = newest.get((site, kind))
        if held is None or issued_at > held[1]:
            newest[(site, kind)] = (record_id, issued_at)
    signed: dict[tuple[Any, str], int] = {}
    ids = [record_id for record_id, _at in newest.values()]
    if ids:
        q = (select(record_signatures.c.record_id, record_signatures.c.role, func.count())
             .where(record_signatures.c.record_id.in_(ids))
             .group_by(record_signatures.c.record_id, record_signatures.c.role))
        signed = {(record_id, role): int(n) for record_id, role, n in conn.execute(q)}
    return newest, signed
