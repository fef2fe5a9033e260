"""The SQL of the ticket ledger: tickets, their history, and the per-item streaks.

Race safety across several collector processes comes from the database:

* :func:`lock_host` takes a transaction-scoped advisory lock per
  (site, host) on PostgreSQL, so the evaluation of one host's results runs
  one transaction at a time whichever collector received them (on SQLite the
  write transaction, ``BEGIN IMMEDIATE``, already serialises writers);
* :func:`insert_ticket` inserts with ``ON CONFLICT DO NOTHING`` against the
  partial unique index ``uq_tickets_live``, so of two racing openers exactly
  one gets an id back;
* state changes are conditional ``UPDATE ... WHERE state = ...`` and report
  whether they happened (:func:`transition`), so each change, breach and
  notification is recorded once.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.store.db import database_time
from collector.store.queries import index_probes_only, time_processor
from collector.store.tables import LIVE_STATES, fleet_hosts, hosts, latest, ticket_events, ticket_streaks, tickets

__all__ = [
    "Streak",
    "TicketFilter",
    "add_event",
    "breach_candidates",
    "delete_streaks",
    "find_tickets",
    "get_ticket",
    "histories",
    "history",
    "host_state",
    "host_tickets",
    "insert_ticket",
    "latest_started",
    "lock_host",
    "lock_hosts",
    "mark_breached",
    "open_counts",
    "breached_counts",
    "save_streaks",
    "silent_hosts",
    "transition",
    "update_ticket",
    "update_tickets",
]

_LIVE_WHERE = text("state IN ('open', 'acknowledged')")
_KEY = ("site", "host", "check", "item")


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def lock_host(conn: Connection, site: str, host: str) -> None:
    """Serialise ticket work on one host across collectors (PostgreSQL; SQLite needs nothing)."""
    if conn.dialect.name == "postgresql":
        # straight to the driver (a text() construct compiled each call cost ~0.1 ms of CPU)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # open in a transaction
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCKS, _lock_key(site, host)))
        finally:
            cursor.close()


def lock_hosts(conn: Connection, site: str, hosts: Sequence[str]) -> datetime:
    """Each host's :func:`lock_host`, in the order given, and then the database's time
    (:func:`~collector.store.db.database_time`, read after the locks: no stale time); once an ingest
    transaction, so one statement on PostgreSQL, which also turns sequential scans off for the rest of the
    transaction (:func:`~collector.store.queries.index_probes_only`: the ingest's lookup of stored ids needs it)."""
    if conn.dialect.name != "postgresql":
        return database_time(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # open in a transaction
    try:  # the aggregate takes every lock (in the array's order) before the outer query reads the clock
        value: datetime = cursor.execute(
            f"SELECT clock_timestamp(), {index_probes_only(conn)} FROM (SELECT count(pg_advisory_xact_lock(%s, k)) "
            "FROM unnest(%s::integer[]) AS t (k)) AS locked",
            (_LOCKS, [_lock_key(site, host) for host in hosts])).fetchone()[0]
    finally:
        cursor.close()
    return value.astimezone(UTC)


_LOCKS = 0x57524454  # the first key of the hosts' ticket locks ("WRDT")


def _lock_key(site: str, host: str) -> int:
    return zlib.crc32(f"wardround-tickets:{site}/{host}".encode()) - 2**31


@dataclass(slots=True)
class Streak:
    """How one check item has been doing lately (a missing row = good for long)."""

    bad_count: int = 0
    good_count: int = 1_000_000
    level: int | None = None  # most severe level seen in the current bad streak
    recent: str = ""  # the last results, oldest first: "b" bad, "g" good
    stored: bool = False

    def changes(self) -> int:
        return sum(1 for a, b in zip(self.recent, self.recent[1:], strict=False) if a != b)


# the streaks of a host's items (host_state): read in every ingest transaction, straight to the driver (through
# SQLAlchemy ~0.1 ms of CPU a batch)
_STREAKS = ('SELECT "check", item, bad_count, good_count, level, recent FROM ticket_streaks '
            "WHERE site = %s AND host = %s")


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """The rows of ``sql`` (``%s`` marks; values the driver takes as they are) run straight on the driver."""
    driver: Any = conn.connection.driver_connection  # open in a transaction
    cursor = driver.cursor()
    try:
        cursor.execute(sql if conn.dialect.name == "postgresql" else sql.replace("%s", "?"), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def latest_started(conn: Connection, site: str, host: str, keys: Iterable[tuple[str, str]],
                   credible_until: datetime) -> dict[tuple[str, str], datetime]:
    """When the newest stored result of each (check, item) started (before this batch's upsert).

    A stored time after ``credible_until`` (a bad clock's, see :mod:`collector.dates`) is left
    out, as if nothing were stored: it must not hold later results back.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    q = select(latest.c.check, latest.c.item, latest.c.started_at).where(
        latest.c.site == site, latest.c.host == host,
        tuple_(latest.c.check, latest.c.item).in_(wanted), latest.c.started_at <= credible_until)
    return {(r.check, r.item): r.started_at for r in conn.execute(q)}


def save_streaks(conn: Connection, site: str, host: str,
                 changed: Mapping[tuple[str, str], Streak], now: datetime) -> None:
    if not changed:
        return
    values = [{"site": site, "host": host, "check": k[0], "item": k[1], "bad_count": s.bad_count,
               "good_count": min(s.good_count, 1_000_000), "level": s.level, "recent": s.recent,
               "updated_at": now} for k, s in sorted(changed.items())]
    ins = _insert(conn, ticket_streaks)
    conn.execute(ins.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={c: ins.excluded[c] for c in ("bad_count", "good_count", "level", "recent", "updated_at")}),
        values)


def delete_streaks(conn: Connection, site: str, host: str, keys: Iterable[tuple[str, str]]) -> None:
    gone = sorted(set(keys))
    if gone:
        conn.execute(delete(ticket_streaks).where(
            ticket_streaks.c.site == site, ticket_streaks.c.host == host,
            tuple_(ticket_streaks.c.check, ticket_streaks.c.item).in_(gone)))


def host_tickets(conn: Connection, site: str, host: str, resolved_since: datetime) -> list[Any]:
    """The host's live tickets and those resolved since ``resolved_since`` (to reopen), locked.

    Read in every ingest transaction, and most hosts have none: whether there are any is asked straight
    from the driver (the 40-column select through SQLAlchemy cost ~0.3 ms of CPU a batch on PostgreSQL);
    only then are they read (and locked) by that select.  A ticket committed between the two is as one
    committed just after the select: the host's ticket lock keeps the rules' own tickets out of that gap.
    """
    return host_state(conn, site, host, resolved_since, with_streaks=False)[0]


def host_state(conn: Connection, site: str, host: str, resolved_since: datetime, *, with_streaks: bool = True
               ) -> tuple[list[Any], dict[tuple[str, str], Streak]]:
    """:func:`host_tickets` and the streaks of the host's items (unless not ``with_streaks``): whether the host has
    any tickets and its streaks are asked in one statement, the tickets read only if it has any."""
    since = time_processor(conn.dialect)(resolved_since)
    streak: dict[tuple[str, str], Streak] = {}
    if with_streaks:  # one statement: the streaks, and a row of NULLs if the host has tickets
        found = _driver_rows(conn, _STREAKS_AND_ANY_TICKETS, (site, host, site, host, since))
        anything = False
        for check, item, bad, good, level, recent in found:
            if check is None:
                anything = True
            else:
                streak[(check, item)] = Streak(bad, good, level, recent, True)
    else:
        anything = bool(_driver_rows(conn, _ANY_HOST_TICKETS, (site, host, since)))
    if not anything:
        return [], streak
    q = _HOST_TICKETS_LOCKED if conn.dialect.name == "postgresql" else _HOST_TICKETS
    return list(conn.execute(q, {"site": site, "host": host, "resolved_since": resolved_since})), streak


_ANY_HOST_TICKETS = ("SELECT 1 FROM tickets WHERE site = %s AND host = %s AND (state IN ("
                     + ", ".join(f"'{s}'" for s in LIVE_STATES) + ") OR state = 'resolved' AND resolved_at >= %s) "
                     "LIMIT 1")
# (a streak's check is never NULL: its primary key; one statement is less of the driver's CPU than two pipelined)
_STREAKS_AND_ANY_TICKETS = (f"{_STREAKS} UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL "
                            f"FROM ({_ANY_HOST_TICKETS}) AS any_ticket")


# read in every ingest transaction: built once
_HOST_TICKETS = select(tickets).where(
    tickets.c.site == bindparam("site"), tickets.c.host == bindparam("host"),
    or_(tickets.c.state.in_(LIVE_STATES),
        and_(tickets.c.state == "resolved", tickets.c.resolved_at >= bindparam("resolved_since"))),
).order_by(tickets.c.id)
_HOST_TICKETS_LOCKED = _HOST_TICKETS.with_for_update()


def insert_ticket(conn: Connection, values: Mapping[str, Any]) -> int | None:
    """Insert a live ticket; None if one is live for its key already (the index says so)."""
    ins = _insert(conn, tickets).values(**values)
    stmt = ins.on_conflict_do_nothing(index_elements=list(_KEY), index_where=_LIVE_WHERE).returning(
        tickets.c.id)
    return conn.execute(stmt).scalar()


def get_ticket(conn: Connection, ticket_id: int, *, lock: bool = False) -> Any | None:
    q = select(tickets).where(tickets.c.id == ticket_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).first()


def live_ticket(conn: Connection, site: str, host: str, check: str, item: str) -> Any | None:
    q = select(tickets).where(tickets.c.site == site, tickets.c.host == host, tickets.c.check == check,
                              tickets.c.item == item, tickets.c.state.in_(LIVE_STATES))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).first()


def update_ticket(conn: Connection, ticket_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))


@functools.lru_cache(maxsize=32)
def _update_columns(columns: tuple[str, ...]) -> Any:
    return update(tickets).where(tickets.c.id == bindparam("ticket_id")).values(
        {c: bindparam(f"new_{c}") for c in columns})


def update_tickets(conn: Connection, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write ``columns`` of several tickets (each row: ``id`` and those columns) in one executemany."""
    if rows:
        conn.execute(_update_columns(tuple(columns)),
                     [{"ticket_id": r["id"], **{f"new_{c}": r[c] for c in columns}}
                      for r in sorted(rows, key=lambda r: r["id"])])


def transition(conn: Connection, ticket_id: int, from_states: Sequence[str],
               values: Mapping[str, Any]) -> bool:
    """Apply ``values`` if the ticket is in one of ``from_states``; True if it was."""
    result = conn.execute(update(tickets).where(
        tickets.c.id == ticket_id, tickets.c.state.in_(list(from_states))).values(**values))
    return bool(result.rowcount)


def add_event(conn: Connection, *, ticket_id: int, at: datetime, actor: str, action: str,
              from_state: str | None, to_state: str | None, note: str,
              snapshot: Mapping[str, Any] | None = None, message: str | None = None) -> None:
    conn.execute(insert(ticket_events).values(
        ticket_id=ticket_id, at=at, actor=actor, action=action, from_state=from_state,
        to_state=to_state, note=note, snapshot=snapshot, message=message))


def history(conn: Connection, ticket_id: int) -> list[Any]:
    q = select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id)
    return list(conn.execute(q))


def histories(conn: Connection, ticket_ids: Sequence[int], before: datetime) -> dict[int, list[Any]]:
    """ticket id → its history events before ``before``, in order (for records)."""
    out: dict[int, list[Any]] = {}
    ids = sorted(set(ticket_ids))
    for i in range(0, len(ids), 500):
        q = (select(ticket_events).where(ticket_events.c.ticket_id.in_(ids[i:i + 500]),
                                         ticket_events.c.at < before)
             .order_by(ticket_events.c.ticket_id, ticket_events.c.id))
        for e in conn.execute(q):
            out.setdefault(int(e.ticket_id), []).append(e)
    return out


@dataclass(frozen=True, slots=True)
class TicketFilter:
    states: tuple[str, ...] = ()
    site: str | None = None
    host: str | None = None
    severities: tuple[int, ...] = ()
    limit: int = 500


def find_tickets(conn: Connection, f: TicketFilter) -> list[Any]:
    """Tickets matching ``f``: key customers first, then most severe, then oldest."""
    q = select(tickets)
    if f.states:
        q = q.where(tickets.c.state.in_(f.states))
    if f.site is not None:
        q = q.where(tickets.c.site == f.site)
    if f.host is not None:
        q = q.where(tickets.c.host == f.host)
    if f.severities:
        q = q.where(tickets.c.severity.in_(f.severities))
    q = q.order_by(tickets.c.priority.desc(), tickets.c.severity, tickets.c.opened_at, tickets.c.id)
    return list(conn.execute(q.limit(f.limit)))


def breach_candidates(conn: Connection, now: datetime) -> list[Any]:
    """Live tickets with a deadline passed and not yet marked breached."""
    q = select(tickets).where(
        tickets.c.state.in_(LIVE_STATES),
        or_(and_(tickets.c.state == "open", tickets.c.acknowledged_at.is_(None),
                 tickets.c.response_breached.is_(False), tickets.c.response_due < now),
            and_(tickets.c.resolve_breached.is_(False), tickets.c.resolve_due < now),
            and_(tickets.c.onsite_breached.is_(False), tickets.c.onsite_due.is_not(None),
                 tickets.c.onsite_due < now)),
    ).order_by(tickets.c.id)
    return list(conn.execute(q))


def mark_breached(conn: Connection, ticket_id: int, kind: str, now: datetime) -> bool:
    """Mark one breach (``response``, ``resolve`` or ``onsite``) once; True if this call did."""
    flag = tickets.c[f"{kind}_breached"]
    due = tickets.c[f"{kind}_due"]
    conds = [tickets.c.id == ticket_id, flag.is_(False), due < now, tickets.c.state.in_(LIVE_STATES)]
    if kind == "response":
        conds += [tickets.c.state == "open", tickets.c.acknowledged_at.is_(None)]
    result = conn.execute(update(tickets).where(*conds).values({flag: True, tickets.c.updated_at: now}))
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class SilentCandidate:
    site: str
    host: str
    last_seen: datetime  # its last report; for a host that never reported, its enrolment
    silent_opened_at: datetime | None
    never_reported: bool = False


def silent_hosts(conn: Connection) -> list[SilentCandidate]:
    """Every host that may fall silent, with its last report and its newest agent-silent ticket (if any).

    Hosts that reported, and enrolled hosts that never did (counted from their enrolment; not
    those awaiting approval); retired hosts are left out.
    """
    newest = (select(tickets.c.site, tickets.c.host, func.max(tickets.c.opened_at).label("opened_at"))
              .where(tickets.c.check == "agent", tickets.c.item == "silent")
              .group_by(tickets.c.site, tickets.c.host).subquery())
    q = select(hosts.c.site, hosts.c.host, hosts.c.last_seen, newest.c.opened_at.label("silent_opened_at"),
               fleet_hosts.c.retired_at
               ).select_from(hosts.outerjoin(newest, and_(newest.c.site == hosts.c.site,
                                                          newest.c.host == hosts.c.host))
                             .outerjoin(fleet_hosts, and_(fleet_hosts.c.site == hosts.c.site,
                                                          fleet_hosts.c.host == hosts.c.host)))
    out = [SilentCandidate(r.site, r.host, r.last_seen, r.silent_opened_at) for r in conn.execute(q)
           if r.retired_at is None]
    never = (select(fleet_hosts.c.site, fleet_hosts.c.host, fleet_hosts.c.enrolled_at,
                    newest.c.opened_at.label("silent_opened_at"))
             .select_from(fleet_hosts.outerjoin(newest, and_(newest.c.site == fleet_hosts.c.site,
                                                             newest.c.host == fleet_hosts.c.host))
                          .outerjoin(hosts, and_(hosts.c.site == fleet_hosts.c.site,
                                                 hosts.c.host == fleet_hosts.c.host)))
             .where(hosts.c.host.is_(None), fleet_hosts.c.retired_at.is_(None),
                    fleet_hosts.c.approved_at.is_not(None)))
    out += [SilentCandidate(r.site, r.host, r.enrolled_at, r.silent_opened_at, never_reported=True)
            for r in conn.execute(never)]
    return out


def open_counts(conn: Connection) -> list[Any]:
    """(site, severity, n) of live tickets."""
    q = select(tickets.c.site, tickets.c.severity, func.count().label("n")).where(
        tickets.c.state.in_(LIVE_STATES)).group_by(tickets.c.site, tickets.c.severity)
    return list(conn.execute(q))


def breached_counts(conn: Connection) -> list[tuple[str, int, str, int]]:
    """(site, severity, kind, n) of live tickets whose deadline of ``kind`` is breached."""
    out = []
    for kind in ("response", "resolve", "onsite"):
        flag = tickets.c[f"{kind}_breached"]
        q = select(tickets.c.site, tickets.c.severity, func.count()).where(
            tickets.c.state.in_(LIVE_STATES), flag.is_(True)).group_by(tickets.c.site, tickets.c.severity)
        out += [(site, int(sev), kind, int(n)) for site, sev, n in conn.execute(q)]
    return out
