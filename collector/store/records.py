"""The SQL of inspection records: what a record reads from results and tickets, and the records themselves.

Reads for building a record (all bounded by one site and one period,
``start`` inclusive, ``end`` exclusive, on ``started_at``):

* :func:`period_items` — per (host, check, item): the newest result in the
  period, how many results there were, how many were not OK, and the worst;
* :func:`items_seen_between` — items that reported before the period (the
  candidates for "no data" gaps); :func:`last_results_before` — when a silent
  host last reported before the period ended;
* :func:`newest_good` — per backup item, the newest OK result in the period;
* :func:`newest_details` — per item of some checks (traceroute), the newest result's details;
* :func:`check_results` — every result of one check (the restore drill: weekly at most) in a window;
* :func:`period_tickets` — tickets that may have been opened, acknowledged or
  resolved in the period (their history decides).

Writes: :func:`insert_record` (``ON CONFLICT DO NOTHING`` against
``uq_records_scheduled`` for scheduled records, so two collectors issuing
the same record store one) and :func:`add_signature`; their keyed signature
covers the new row's id, so :func:`set_signature` stores it right after the
INSERT, in the same transaction, into a column that is still empty.
Nothing here changes a stored record or sign-off otherwise: there is no such
function, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from checks.result import SEVERITY, Status
from collector.store.tables import fleet_hosts, hosts, latest, record_signatures, records, results, tickets

__all__ = [
    "PeriodItem",
    "RecordFilter",
    "add_signature",
    "check_results",
    "last_signature",
    "lock_record",
    "set_signature",
    "find_records",
    "get_record",
    "insert_record",
    "items_seen_between",
    "last_results_before",
    "newest_details",
    "newest_good",
    "period_items",
    "period_tickets",
    "record_exists",
    "signatures",
    "SiteHost",
    "site_hosts",
    "sites",
    "tickets_opened",
]

# A status's severity (Status.severity) for "the worst in the period": CRITICAL > UNKNOWN > WARNING > OK.
_RANK = case(*((results.c.status == int(s), rank) for s, rank in SEVERITY.items() if rank), else_=0)
_KEY = (results.c.host, results.c.check, results.c.item)


@dataclass(frozen=True, slots=True)
class PeriodItem:
    host: str
    check: str
    item: str
    status: int  # of the newest result in the period
    summary: str
    standard: str
    metrics: str  # JSON text, as stored
    started_at: datetime
    results: int
    bad: int
    worst_status: int
    messages: str | None = None  # JSON text, as stored (collector.messages)


def period_items(conn: Connection, site: str, start: datetime, end: datetime,
                 checks: Iterable[str] | None = None) -> list[PeriodItem]:
    """Every (host, check, item) with a result in [start, end) (of ``checks``, if given): newest result and
    counts, sorted."""
    part = list(_KEY)
    inner = select(
        *_KEY, results.c.status, results.c.summary, results.c.standard, results.c.metrics,
        results.c.started_at, results.c.messages,
        func.row_number().over(partition_by=part, order_by=(results.c.started_at.desc(), results.c.id.desc()))
        .label("rn"),
        func.count().over(partition_by=part).label("n"),
        func.sum(case((results.c.status != 0, 1), else_=0)).over(partition_by=part).label("bad"),
        func.max(_RANK).over(partition_by=part).label("worst_rank"),
    ).where(results.c.site == site, results.c.started_at >= start, results.c.started_at < end,
            *([results.c.check.in_(sorted(set(checks)))] if checks is not None else [])).subquery()
    q = select(inner).where(inner.c.rn == 1).order_by(inner.c.host, inner.c.check, inner.c.item)
    return [PeriodItem(r.host, r.check, r.item, int(r.status), r.summary, r.standard, r.metrics, r.started_at,
                       int(r.n), int(r.bad or 0), int(Status.of_severity(int(r.worst_rank))), r.messages)
            for r in conn.execute(q)]


def items_seen_between(conn: Connection, site: str, since: datetime, until: datetime) -> dict[
        tuple[str, str, str], datetime]:
    """(host, check, item) → its newest result time, for items that reported in [since, until)."""
    q = select(*_KEY, func.max(results.c.started_at)).where(
        results.c.site == site, results.c.started_at >= since, results.c.started_at < until,
    ).group_by(*_KEY)
    return {(h, c, i): at for h, c, i, at in conn.execute(q)}


def last_results_before(conn: Connection, site: str, hosts_: Sequence[str], until: datetime) -> dict[str, datetime]:
    """host → when its newest result before ``until`` started (hosts that have one)."""
    wanted = sorted(set(hosts_))
    if not wanted:
        return {}
    q = select(results.c.host, func.max(results.c.started_at)).where(
        results.c.site == site, results.c.host.in_(wanted), results.c.started_at < until,
    ).group_by(results.c.host)
    return {h: at for h, at in conn.execute(q)}


def newest_good(conn: Connection, site: str, checks: Iterable[str], start: datetime,
                end: datetime) -> dict[tuple[str, str, str], tuple[datetime, str]]:
    """(host, check, item) → (started_at, metrics JSON) of the newest OK result of ``checks``."""
    return {(r.host, r.check, r.item): (r.started_at, r.value)
            for r in _newest(conn, site, checks, start, end, results.c.metrics, results.c.status == 0)}


def newest_details(conn: Connection, site: str, checks: Iterable[str], start: datetime,
                   end: datetime) -> dict[tuple[str, str, str], str]:
    """(host, check, item) → the details JSON of the newest result of ``checks``, whatever its status."""
    return {(r.host, r.check, r.item): r.value
            for r in _newest(conn, site, checks, start, end, results.c.details)}


def _newest(conn: Connection, site: str, checks: Iterable[str], start: datetime, end: datetime,
            value: Any, *where: Any) -> list[Any]:
    """Per (host, check, item) of ``checks`` in [start, end): the newest result's started_at and ``value``."""
    wanted = sorted(set(checks))
    inner = select(
        *_KEY, results.c.started_at, value.label("value"),
        func.row_number().over(partition_by=list(_KEY),
                               order_by=(results.c.started_at.desc(), results.c.id.desc())).label("rn"),
    ).where(results.c.site == site, results.c.check.in_(wanted), results.c.started_at >= start,
            results.c.started_at < end, *where).subquery()
    return list(conn.execute(select(inner).where(inner.c.rn == 1).order_by(inner.c.host, inner.c.item)))


def check_results(conn: Connection, site: str, check: str, since: datetime, until: datetime) -> list[Any]:
    """Every result of ``check`` at ``site`` in [since, until), oldest first (host, item, status, started_at,
    metrics, details): for checks that run rarely, such as the weekly restore drill.

    The hosts that run the check come from ``latest`` first, so the read walks the
    (host, started_at) index of those hosts only, not a year of the whole site.
    """
    hosts_ = [h for (h,) in conn.execute(select(latest.c.host).distinct()
                                         .where(latest.c.site == site, latest.c.check == check))]
    if not hosts_:
        return []
    q = (select(results.c.host, results.c.item, results.c.status, results.c.started_at, results.c.metrics,
                results.c.details)
         .where(results.c.site == site, results.c.host.in_(sorted(hosts_)), results.c.check == check,
                results.c.started_at >= since, results.c.started_at < until)
         .order_by(results.c.started_at, results.c.id))
    return list(conn.execute(q))


@dataclass(frozen=True, slots=True)
class SiteHost:
    """A host of a site: enrolled (the inventory) or known from its results."""

    host: str
    first_seen: datetime  # first report, else its enrolment
    last_seen: datetime | None  # None: never reported
    retired_at: datetime | None


def site_hosts(conn: Connection, site: str) -> list[SiteHost]:
    """The site's hosts, enrolled or reported, by name (retired ones too: callers judge the period)."""
    found: dict[str, SiteHost] = {}
    q = select(fleet_hosts.c.host, fleet_hosts.c.enrolled_at, fleet_hosts.c.retired_at).where(
        fleet_hosts.c.site == site)
    for host, enrolled_at, retired_at in conn.execute(q):
        found[host] = SiteHost(host=host, first_seen=enrolled_at, last_seen=None, retired_at=retired_at)
    q = select(hosts.c.host, hosts.c.first_seen, hosts.c.last_seen).where(hosts.c.site == site)
    for host, first_seen, last_seen in conn.execute(q):
        enrolled = found.get(host)
        first = min(first_seen, enrolled.first_seen) if enrolled is not None else first_seen
        found[host] = SiteHost(host=host, first_seen=first, last_seen=last_seen,
                               retired_at=enrolled.retired_at if enrolled is not None else None)
    return [found[h] for h in sorted(found)]


def sites(conn: Connection) -> list[tuple[str, datetime]]:
    """Every site with a host (reported or enrolled), and when its first host was seen or enrolled."""
    first: dict[str, datetime] = {}
    for q in (select(hosts.c.site, func.min(hosts.c.first_seen)).group_by(hosts.c.site),
              select(fleet_hosts.c.site, func.min(fleet_hosts.c.enrolled_at)).group_by(fleet_hosts.c.site)):
        for site, at in conn.execute(q):
            first[site] = min(at, first.get(site, at))
    return sorted(first.items())


def period_tickets(conn: Connection, site: str, start: datetime, end: datetime) -> list[Any]:
    """Tickets of the site that may have been opened, acknowledged or resolved in [start, end), oldest first.

    Every ticket opened before ``end`` and changed since ``start`` (``updated_at``), or whose
    opening, acknowledgement or resolution time falls in the period: a superset; its history says
    which were (:func:`collector.ticket_history.acted_between`).
    """

    def within(col: Any) -> Any:
        return and_(col >= start, col < end)

    q = select(tickets).where(
        tickets.c.site == site, tickets.c.opened_at < end,
        or_(tickets.c.updated_at >= start, within(tickets.c.opened_at), within(tickets.c.acknowledged_at),
            within(tickets.c.resolved_at)),
    ).order_by(tickets.c.opened_at, tickets.c.id)
    return list(conn.execute(q))


def tickets_opened(conn: Connection, site: str, checks: Sequence[str], start: datetime,
                   end: datetime) -> dict[str, int]:
    """How many tickets of each of ``checks`` were opened at ``site`` in [start, end)."""
    return {check: int(n) for check, n in conn.execute(
        select(tickets.c.check, func.count()).where(tickets.c.site == site, tickets.c.check.in_(checks),
                                                    tickets.c.opened_at >= start, tickets.c.opened_at < end)
        .group_by(tickets.c.check)).all()}


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def insert_record(conn: Connection, values: Mapping[str, Any]) -> int | None:
    """Store an issued record; the new id, or None if this scheduled record exists already."""
    if values["origin"] == "scheduled":
        ins = _insert(conn, records).values(**values)
        stmt = ins.on_conflict_do_nothing(index_elements=["site", "kind", "period_start"],
                                          index_where=text("origin = 'scheduled'")).returning(records.c.id)
        new_id: int | None = conn.execute(stmt).scalar()
        return new_id
    issued: int = conn.execute(insert(records).values(**values).returning(records.c.id)).scalar_one()
    return issued


def record_exists(conn: Connection, site: str, kind: str, period_start: datetime) -> bool:
    """Whether the scheduled record of (site, kind, period_start) is stored."""
    q = select(records.c.id).where(records.c.site == site, records.c.kind == kind,
                                   records.c.period_start == period_start, records.c.origin == "scheduled")
    return conn.execute(q.limit(1)).first() is not None


def get_record(conn: Connection, record_id: int) -> Any | None:
    return conn.execute(select(records).where(records.c.id == record_id)).first()


@dataclass(frozen=True, slots=True)
class RecordFilter:
    site: str | None = None
    kinds: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date: periods that end on or after it
    date_to: str | None = None  # ISO date: periods that start on or before it
    limit: int = 200


def find_records(conn: Connection, f: RecordFilter) -> list[Any]:
    """Records matching ``f`` without their content, newest period first."""
    cols = [c for c in records.c if c.name != "content"]
    q = select(*cols)
    if f.site is not None:
        q = q.where(records.c.site == f.site)
    if f.kinds:
        q = q.where(records.c.kind.in_(f.kinds))
    if f.date_from is not None:
        q = q.where(records.c.period_to >= f.date_from)
    if f.date_to is not None:
        q = q.where(records.c.period_from <= f.date_to)
    q = q.order_by(records.c.period_start.desc(), records.c.id.desc()).limit(f.limit)
    return list(conn.execute(q))


def add_signature(conn: Connection, *, record_id: int, signer: str, role: str, signed_at: datetime,
                  note: str, digest: str, signed_by: str) -> int:
    return int(conn.execute(insert(record_signatures).values(
        record_id=record_id, signer=signer, role=role, signed_at=signed_at, note=note, digest=digest,
        signed_by=signed_by).returning(record_signatures.c.id)).scalar_one())


def set_signature(conn: Connection, table: Any, row_id: int, *, signature: str, key_id: str) -> None:
    """Store the keyed signature of a row of ``records`` or ``record_signatures`` just inserted (once)."""
    done = conn.execute(update(table).where(table.c.id == row_id, table.c.signature.is_(None))
                        .values(signature=signature, key_id=key_id)).rowcount
    if done != 1:
        raise RuntimeError(f"{table.name} {row_id}: signed already or missing")


def lock_record(conn: Connection, record_id: int) -> None:
    """Serialise sign-offs of one record until the transaction ends (each is chained to the one before)."""
    q = select(records.c.id).where(records.c.id == record_id)
    conn.execute(q.with_for_update() if conn.dialect.name == "postgresql" else q)


def last_signature(conn: Connection, record_id: int) -> str | None:
    """The keyed signature of the record's newest sign-off (None: no sign-off, or one from before keys)."""
    sig: str | None = conn.execute(
        select(record_signatures.c.signature).where(record_signatures.c.record_id == record_id)
        .order_by(record_signatures.c.id.desc()).limit(1)).scalar()
    return sig


def signatures(conn: Connection, record_ids: Sequence[int]) -> dict[int, list[Any]]:
    """record id → its signatures, oldest first."""
    if not record_ids:
        return {}
    q = select(record_signatures).where(record_signatures.c.record_id.in_(list(record_ids))).order_by(
        record_signatures.c.record_id, record_signatures.c.id)
    out: dict[int, list[Any]] = {}
    for r in conn.execute(q):
        out.setdefault(int(r.record_id), []).append(r)
    return out
