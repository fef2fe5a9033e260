"""The reads behind the Today page and the history on the host and ticket pages.

Today (:mod:`collector.today`): the backup items' newest results, the live tickets, who
acknowledged them, and the daily records of given days with their signatures.  History
(:mod:`collector.web.history`): a host's results since a time, one item's newest results,
and per item when its status last differed from the current one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from collector.store import rollups
from collector.store.tables import (
    LIVE_STATES,
    fleet_hosts,
    hosts,
    latest,
    record_signatures,
    records,
    results,
    ticket_events,
    tickets,
)

__all__ = ["acknowledged_by", "backup_items", "daily_records", "host_results", "item_results", "last_changes",
           "live_tickets", "site_names"]


def site_names(conn: Connection) -> list[str]:
    """Every site with a host in the inventory (not retired) or a host that reported, by name."""
    q = select(fleet_hosts.c.site).where(fleet_hosts.c.retired_at.is_(None)).union(select(hosts.c.site))
    return sorted(str(s) for (s,) in conn.execute(q))


def backup_items(conn: Connection, checks: Collection[str], site: str | None = None) -> list[Any]:
    """The newest result of every item of the backup ``checks`` (site, host, check, item, status, summary,
    metrics, started_at)."""
    q = select(latest.c.site, latest.c.host, latest.c.check, latest.c.item, latest.c.status, latest.c.summary,
               latest.c.metrics, latest.c.started_at).where(latest.c.check.in_(sorted(checks)))
    if site is not None:
        q = q.where(latest.c.site == site)
    return list(conn.execute(q))


def live_tickets(conn: Connection, site: str | None = None) -> list[Any]:
    """Every ticket still open or acknowledged."""
    q = select(tickets).where(tickets.c.state.in_(LIVE_STATES))
    if site is not None:
        q = q.where(tickets.c.site == site)
    return list(conn.execute(q))


def acknowledged_by(conn: Connection, ticket_ids: Iterable[int], actor: str) -> set[int]:
    """Those of ``ticket_ids`` that ``actor`` acknowledged."""
    ids = sorted(set(ticket_ids))
    out: set[int] = set()
    for i in range(0, len(ids), 500):
        q = select(ticket_events.c.ticket_id).where(ticket_events.c.ticket_id.in_(ids[i:i + 500]),
                                                    ticket_events.c.action == "acknowledge",
                                                    ticket_events.c.actor == actor)
        out.update(int(t) for (t,) in conn.execute(q))
    return out


def daily_records(conn: Connection, days: Collection[str]) -> tuple[list[Any], dict[int, set[str]]]:
    """The daily records whose period is one of ``days`` (``YYYY-MM-DD``), and the signer roles of each."""
    q = (select(records.c.id, records.c.site, records.c.period_from, records.c.issued_at)
         .where(records.c.kind == "daily", records.c.period_from.in_(sorted(days))))
    rows = list(conn.execute(q))
    roles: dict[int, set[str]] = {}
    if rows:
        q2 = select(record_signatures.c.record_id, record_signatures.c.role).where(
            record_signatures.c.record_id.in_([r.id for r in rows]))
        for record_id, role in conn.execute(q2):
            roles.setdefault(int(record_id), set()).add(role)
    return rows, roles


def host_results(conn: Connection, site: str, host: str, since: datetime) -> list[Any]:
    """A host's results started at or after ``since``, oldest first (check, item, status, started_at,
    metrics)."""
    q = (select(results.c.check, results.c.item, results.c.status, results.c.started_at, results.c.metrics)
         .where(results.c.site == site, results.c.host == host, results.c.started_at >= since)
         .order_by(results.c.started_at))
    return list(conn.execute(q))


def item_results(conn: Connection, site: str, host: str, check: str, item: str, limit: int) -> list[Any]:
    """One item's newest ``limit`` results, newest first (status, summary, started_at, metrics, messages)."""
    q = (select(results.c.status, results.c.summary, results.c.started_at, results.c.metrics, results.c.messages)
         .where(results.c.site == site, results.c.host == host, results.c.check == check, results.c.item == item)
         .order_by(results.c.started_at.desc(), results.c.id.desc()).limit(limit))
    # from where the roll-ups say the newest `limit` lie: otherwise an item that reports rarely (a weekly drill)
    # walked its host's whole run (bench/result_reads.py "item_results rare")
    since = rollups.newest_hours(conn, (site, host, check, item), limit)
    return list(conn.execute(q if since is None else q.where(results.c.started_at >= since)))


def last_changes(conn: Connection, site: str, host: str) -> dict[tuple[str, str], datetime | None]:
    """Per item of the host: when its status last changed to the current one (the first result with the
    current status after the last one with another); None when every stored result has the current status."""
    current = {(c, i): s for c, i, s in conn.execute(select(latest.c.check, latest.c.item, latest.c.status)
                                                     .where(latest.c.site == site, latest.c.host == host))}
    # one pass over the host's results (its run of ix_result_rows_host_started), newest start per status:
    # joined to ``latest`` instead, PostgreSQL compared every item with every result of the host
    q = (select(results.c.check, results.c.item, results.c.status, func.max(results.c.started_at))
         .where(results.c.site == site, results.c.host == host)
         .group_by(results.c.check, results.c.item, results.c.status))
    before: dict[tuple[str, str], datetime] = {}
    for check, item, status, at in conn.execute(q):
        key = (check, item)
        if key in current and status != current[key] and (key not in before or at > before[key]):
            before[key] = at
    out: dict[tuple[str, str], datetime | None] = {}
    for (check, item), at in before.items():
        q2 = select(func.min(results.c.started_at)).where(
            results.c.site == site, results.c.host == host, results.c.check == check, results.c.item == item,
            results.c.started_at > at)
        out[(check, item)] = conn.execute(q2).scalar()
    return out
