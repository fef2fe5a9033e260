"""The SQL of the annual service report (collector/records/annual.py): roll-ups, tickets, issued records.

Everything the report says about results comes from the day roll-ups
(:mod:`collector.store.rollups`), never from raw results, so a report issued
after its year's raw results were pruned says what one issued before said.
A day row covers one site-local day, so the period's bounds must be midnights
of the zone the roll-ups were built in (the site's policy zone; the report's
period is a calendar year in it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from collector.store import rollups
from collector.store.records import PeriodItem
from collector.store.rollup_tables import rollup_days
from collector.store.tables import hosts, records, result_series, tickets

__all__ = ["Newest", "day_rows", "distinct_periods", "first_seen", "health", "host_spans", "newest",
           "opened_per_item", "period_items", "period_tickets", "recurring", "spans"]

Key = tuple[str, str, str]  # host, check, item
_BAD = (1, 2)  # WARNING, CRITICAL: "went bad"
_d = rollup_days.c
_s = result_series.c
# what the report reads of a day row (not the metric statistics)
_COLUMNS = (_d.start, _d.results, _d.ok, _d.warning, _d.critical, _d.unknown, _d.worst, _d.first_at,
            _d.first_status, _d.last_at, _d.last_status, _d.went_bad, _d.silent_us, _d.longest_us,
            _d.last_text_id, _d.last_changed, _d.bad_at, _d.bad_status, _d.bad_text_id, _d.bad_changed,
            _d.good_at, _d.good_text_id, _d.good_changed)


def day_rows(conn: Connection, site: str, start: datetime, end: datetime,
             checks: Iterable[str] | None = None) -> dict[Key, list[Any]]:
    """The day rows of each (host, check, item) of ``site`` in [start, end), oldest first; host rows left out."""
    q = (select(_s.host, _s.check, _s.item, *_COLUMNS).join_from(rollup_days, result_series, _s.id == _d.series_id)
         .where(_d.series_id.in_(_site_series(site, checks)), _d.start >= start, _d.start < end))
    out: dict[Key, list[Any]] = defaultdict(list)
    for r in conn.execute(q.order_by(_s.host, _s.check, _s.item, _d.start)):
        out[(r.host, r.check, r.item)].append(r)
    return out


def spans(conn: Connection, site: str, start: datetime, end: datetime,
          checks: Iterable[str] | None = None) -> dict[Key, rollups.Span]:
    """What each (host, check, item) of ``site`` added up to in [start, end) (without metric statistics)."""
    return {k: rollups.merge(rows, with_metrics=False) for k, rows in day_rows(conn, site, start, end, checks).items()}


def host_spans(conn: Connection, site: str, start: datetime, end: datetime) -> dict[str, rollups.Span]:
    """What each host's whole traffic added up to in [start, end) (first, last, silences)."""
    return {k[0]: rollups.merge(rows, with_metrics=False)
            for k, rows in day_rows(conn, site, start, end, [rollups.HOST_ROW]).items()}


def _site_series(site: str, checks: Iterable[str] | None = None) -> Any:
    q = select(_s.id).where(_s.site == site)
    return q.where(_s.check.in_(sorted(set(checks)))) if checks is not None else q.where(_s.check != rollups.HOST_ROW)


def recurring(conn: Connection, site: str, start: datetime, end: datetime, top: int) -> list[tuple[Key, int, int]]:
    """The ``top`` items that went bad most often in [start, end): ((host, check, item), times, bad results).

    Summed in the database: a day that starts bad after a day that ended bad is not a new time.
    """
    prev = func.lag(_d.last_status).over(partition_by=_d.series_id, order_by=_d.start)
    inner = (select(_d.series_id, _d.went_bad, _d.first_status, _d.warning, _d.critical, prev.label("prev"))
             .where(_d.series_id.in_(_site_series(site)), _d.start >= start, _d.start < end).subquery())
    again = case((and_(inner.c.first_status.in_(_BAD), inner.c.prev.in_(_BAD)), 1), else_=0)
    times = (func.sum(inner.c.went_bad) - func.sum(again)).label("times")
    q = (select(_s.host, _s.check, _s.item, times, func.sum(inner.c.warning + inner.c.critical).label("bad"))
         .join_from(inner, result_series, _s.id == inner.c.series_id)
         .group_by(_s.host, _s.check, _s.item).having(times > 0)
         .order_by(times.desc(), _s.host, _s.check, _s.item).limit(top))
    return [((r.host, r.check, r.item), int(r.times), int(r.bad)) for r in conn.execute(q)]


def health(conn: Connection, site: str, start: datetime, end: datetime, checks: Iterable[str]
           ) -> dict[str, tuple[int, int]]:
    """Per host: the results of ``checks`` in [start, end) and how many were OK."""
    q = (select(_s.host, func.sum(_d.results), func.sum(_d.ok)).join_from(rollup_days, result_series,
                                                                          _s.id == _d.series_id)
         .where(_d.series_id.in_(_site_series(site, checks)), _d.start >= start, _d.start < end)
         .group_by(_s.host))
    return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in conn.execute(q)}


@dataclass(frozen=True, slots=True)
class Newest:
    """The newest result of an item in the period: its status, time and metrics (JSON text)."""

    host: str
    item: str
    status: int
    metrics: str
    details: str
    started_at: datetime


def newest(conn: Connection, site: str, check: str, start: datetime, end: datetime) -> list[Newest]:
    """The newest result of each item of ``check`` in [start, end) (its newest day's last), by host and item."""
    last = (select(_d.series_id, func.max(_d.start).label("start"))
            .where(_d.series_id.in_(_site_series(site, [check])), _d.start >= start, _d.start < end)
            .group_by(_d.series_id).subquery())
    q = (select(_s.host, _s.item, _d.last_status, _d.last_at, _d.last_text_id, _d.last_changed)
         .join_from(rollup_days, last, and_(last.c.series_id == _d.series_id, last.c.start == _d.start))
         .join(result_series, _s.id == _d.series_id).order_by(_s.host, _s.item))
    found = list(conn.execute(q))
    said = rollups.texts_of(conn, [(r.last_text_id, r.last_changed) for r in found])
    return [Newest(r.host, r.item, int(r.last_status), said[(r.last_text_id, r.last_changed)]["metrics"],
                   said[(r.last_text_id, r.last_changed)]["details"], r.last_at) for r in found]


def period_items(conn: Connection, site: str, start: datetime, end: datetime,
                 checks: Iterable[str] | None = None) -> list[PeriodItem]:
    """:func:`collector.store.records.period_items` from the roll-ups: newest result and counts, sorted."""
    found = spans(conn, site, start, end, checks)
    said = rollups.texts_of(conn, [(s.last_text_id, s.last_changed) for s in found.values()])
    out = []
    for (host, check, item), s in sorted(found.items()):
        t = said[(s.last_text_id, s.last_changed)]
        assert s.last_at is not None
        out.append(PeriodItem(host, check, item, s.last_status, t["summary"], t["standard"], t["metrics"],
                              s.last_at, s.results, s.bad, s.worst, t["messages"] or None))
    return out


def distinct_periods(conn: Connection, site: str, kind: str, first_day: str, last_day: str) -> int:
    """Distinct periods (by first day, ISO) of issued records of ``kind`` starting within the days given."""
    q = (select(func.count(func.distinct(records.c.period_from)))
         .where(records.c.site == site, records.c.kind == kind, records.c.period_from >= first_day,
                records.c.period_from <= last_day))
    return int(conn.execute(q).scalar() or 0)


def period_tickets(conn: Connection, site: str, start: datetime, end: datetime) -> list[Any]:
    """Every ticket opened in [start, end), oldest first."""
    q = (select(tickets).where(tickets.c.site == site, tickets.c.opened_at >= start, tickets.c.opened_at < end)
         .order_by(tickets.c.opened_at, tickets.c.id))
    return list(conn.execute(q))


def opened_per_item(conn: Connection, site: str, start: datetime, end: datetime) -> dict[Key, int]:
    """Tickets opened in [start, end) per (host, check, item)."""
    q = (select(tickets.c.host, tickets.c.check, tickets.c.item, func.count())
         .where(tickets.c.site == site, tickets.c.opened_at >= start, tickets.c.opened_at < end)
         .group_by(tickets.c.host, tickets.c.check, tickets.c.item))
    return {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(q)}


def first_seen(conn: Connection, site: str) -> datetime | None:
    """When the site's first host was first seen."""
    found: datetime | None = conn.execute(select(func.min(hosts.c.first_seen)).where(hosts.c.site == site)).scalar()
    return found
