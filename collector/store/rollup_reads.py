"""What a patrol record reads about results, from the day roll-ups (when the period's raw results are gone).

The same answers as :mod:`collector.store.records` gives from raw results, for periods made of
whole site-local days (daily, weekly, monthly and quarterly records are): the newest result
and the counts of each item (:func:`collector.store.annual.period_items`), the items seen in a
look-back window, when a silent host last reported, and the newest good backup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from collector.store import rollups
from collector.store.annual import day_rows, period_items
from collector.store.rollup_tables import rollup_days
from collector.store.tables import result_series

__all__ = ["items_seen_between", "last_results_before", "newest_good", "period_items"]

_d = rollup_days.c
_s = result_series.c


def items_seen_between(conn: Connection, site: str, since: datetime, until: datetime) -> dict[
        tuple[str, str, str], datetime]:
    """(host, check, item) → its newest result time, for items that reported in the days of [since, until)."""
    q = (select(_s.host, _s.check, _s.item, func.max(_d.last_at))
         .join_from(rollup_days, result_series, _s.id == _d.series_id)
         .where(_s.site == site, _s.check != rollups.HOST_ROW, _d.start >= since, _d.start < until)
         .group_by(_s.host, _s.check, _s.item))
    return {(h, c, i): at for h, c, i, at in conn.execute(q)}


def last_results_before(conn: Connection, site: str, hosts_: Sequence[str], until: datetime) -> dict[str, datetime]:
    """host → when its newest result in the days before ``until`` started (hosts that have one)."""
    wanted = sorted(set(hosts_))
    if not wanted:
        return {}
    q = (select(_s.host, func.max(_d.last_at)).join_from(rollup_days, result_series, _s.id == _d.series_id)
         .where(_s.site == site, _s.check == rollups.HOST_ROW, _s.host.in_(wanted), _d.start < until)
         .group_by(_s.host))
    return {h: at for h, at in conn.execute(q)}


def newest_good(conn: Connection, site: str, checks: Iterable[str], start: datetime,
                end: datetime) -> dict[tuple[str, str, str], tuple[datetime, Any]]:
    """(host, check, item) → (time, metrics JSON) of its newest OK result in the days of [start, end)."""
    newest = {key: [r for r in rows if r.good_at is not None][-1:]
              for key, rows in day_rows(conn, site, start, end, checks).items()}
    said = rollups.texts_of(conn, [(r.good_text_id, r.good_changed) for rows in newest.values() for r in rows])
    return {key: (rows[0].good_at, said[(rows[0].good_text_id, rows[0].good_changed)]["metrics"])
            for key, rows in newest.items() if rows}
